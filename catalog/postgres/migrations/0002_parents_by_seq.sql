-- Version 2: parents refer to artifacts by artifacts.seq, not by digest
-- (SQLite's version 4). Digests are random, so each parents row used to
-- land at a random place in two text indexes; seqs grow with each record,
-- so new rows land at the end of both. The rows are carried over in this
-- same transaction before the old table goes; no parents row is lost.
CREATE TABLE parents_v2 (
	child    BIGINT NOT NULL REFERENCES artifacts (seq),
	position INTEGER NOT NULL,
	parent   BIGINT NOT NULL REFERENCES artifacts (seq),
	PRIMARY KEY (child, position)
);
INSERT INTO parents_v2 (child, position, parent)
	SELECT c.seq, p.position, a.seq FROM parents p
	JOIN artifacts c ON c.digest = p.child
	JOIN artifacts a ON a.digest = p.parent;
DROP TABLE parents;
ALTER TABLE parents_v2 RENAME TO parents;
ALTER INDEX parents_v2_pkey RENAME TO parents_pkey;
CREATE INDEX parents_parent ON parents (parent);
CREATE TRIGGER parents_append_only BEFORE UPDATE OR DELETE ON parents FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
