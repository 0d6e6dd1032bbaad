-- Version 3: tombstones (SQLite's version 5). An artifact deleted from its
-- store by a retention plan keeps its record, lineage and history; this row
-- (and a "deleted" event) says who deleted it, when, under which plan.
CREATE TABLE deletions (
	artifact TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES artifacts (digest),
	plan     TEXT NOT NULL,
	rule     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	at       BIGINT NOT NULL
);
CREATE TRIGGER deletions_append_only BEFORE UPDATE OR DELETE ON deletions FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
