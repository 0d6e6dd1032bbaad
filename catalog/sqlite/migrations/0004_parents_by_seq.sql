-- Version 4: parents refer to artifacts by artifacts.seq, not by digest.
-- Digests are random, so each parents row used to land at a random place
-- in two text indexes (by child and by parent); seqs grow with each
-- record, so new rows land at the end of both, and a bulk ingest touches a
-- few pages instead of most of them. The rows are carried over in this
-- same transaction before the old table goes; no parents row is lost.
--
-- The foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at COMMIT
-- (which still refuses a dangling parent) rather than per statement, so a
-- multi-row INSERT cannot abort half-way and SQLite keeps no statement
-- journal for it.
CREATE TABLE parents_v4 (
	child    INTEGER NOT NULL REFERENCES artifacts (seq) DEFERRABLE INITIALLY DEFERRED,
	position INTEGER NOT NULL,
	parent   INTEGER NOT NULL REFERENCES artifacts (seq) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (child, position)
) WITHOUT ROWID;
INSERT INTO parents_v4 (child, position, parent)
	SELECT c.seq, p.position, a.seq FROM parents p
	JOIN artifacts c ON c.digest = p.child
	JOIN artifacts a ON a.digest = p.parent;
DROP TABLE parents;
ALTER TABLE parents_v4 RENAME TO parents;
CREATE INDEX parents_parent ON parents (parent);
CREATE TRIGGER parents_no_update BEFORE UPDATE ON parents BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER parents_no_delete BEFORE DELETE ON parents BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
