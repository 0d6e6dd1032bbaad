-- Version 5: tombstones. An artifact deleted from its store by a retention
-- plan keeps its record, lineage and history; this row (and a "deleted"
-- event) says who deleted it, when, under which plan. Append-only, at most
-- one row per artifact.
CREATE TABLE deletions (
	artifact TEXT NOT NULL PRIMARY KEY REFERENCES artifacts (digest),
	plan     TEXT NOT NULL,
	rule     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	at       INTEGER NOT NULL -- Unix seconds
);
CREATE TRIGGER deletions_no_update BEFORE UPDATE ON deletions BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER deletions_no_delete BEFORE DELETE ON deletions BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
