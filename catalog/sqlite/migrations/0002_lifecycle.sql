-- Version 2: lifecycle events. A revocation is a new row, never an update;
-- the current state of an artifact is its newest event.
CREATE TABLE lifecycle (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	artifact TEXT NOT NULL REFERENCES artifacts (digest),
	state    TEXT NOT NULL CHECK (state IN ('active', 'deprecated', 'revoked')),
	reason   TEXT NOT NULL,
	actor    TEXT NOT NULL,
	at       INTEGER NOT NULL -- Unix seconds
);
CREATE INDEX lifecycle_artifact ON lifecycle (artifact, seq);
CREATE TRIGGER lifecycle_no_update BEFORE UPDATE ON lifecycle
BEGIN SELECT RAISE(ABORT, 'lifecycle events are append-only'); END;
CREATE TRIGGER lifecycle_no_delete BEFORE DELETE ON lifecycle
BEGIN SELECT RAISE(ABORT, 'lifecycle events are append-only'); END;
