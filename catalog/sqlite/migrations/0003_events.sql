-- Version 3: the event log and the state it records. Every change appends
-- one row to events, in the same transaction as the change; events are
-- hash-chained (prev, hash) and are the leaves of a Merkle tree whose
-- stored hashes (golang.org/x/mod/sumdb/tlog) are in tlog_hashes and whose
-- signed checkpoints are in checkpoints. Every table is append-only.
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY, -- 0-based: the tlog leaf index
	at      INTEGER NOT NULL,    -- Unix seconds
	actor   TEXT NOT NULL,
	type    TEXT NOT NULL,
	subject TEXT NOT NULL,
	body    TEXT NOT NULL,       -- canonical JSON
	prev    TEXT NOT NULL,       -- hex hash of the previous event
	hash    TEXT NOT NULL        -- hex SHA-256 of prev and the event
);
CREATE TABLE tlog_hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);
CREATE TABLE checkpoints (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	size INTEGER NOT NULL,
	note TEXT NOT NULL
);

ALTER TABLE lifecycle ADD COLUMN effective INTEGER NOT NULL DEFAULT 0; -- Unix seconds, 0 = when recorded
ALTER TABLE lifecycle ADD COLUMN secrets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lifecycle ADD COLUMN cause TEXT NOT NULL DEFAULT '';

CREATE TABLE channels (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	name    TEXT NOT NULL,
	channel TEXT NOT NULL,
	version TEXT NOT NULL,
	reason  TEXT NOT NULL,
	actor   TEXT NOT NULL,
	at      INTEGER NOT NULL
);
CREATE INDEX channels_name ON channels (name, channel, seq);

CREATE TABLE visibility (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	artifact   TEXT NOT NULL REFERENCES artifacts (digest),
	level      TEXT NOT NULL CHECK (level IN ('private', 'shared', 'public')),
	principals TEXT NOT NULL, -- JSON array
	reason     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	at         INTEGER NOT NULL
);
CREATE INDEX visibility_artifact ON visibility (artifact, seq);

CREATE TRIGGER artifacts_no_update BEFORE UPDATE ON artifacts BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER artifacts_no_delete BEFORE DELETE ON artifacts BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER parents_no_update BEFORE UPDATE ON parents BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER parents_no_delete BEFORE DELETE ON parents BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER tlog_hashes_no_update BEFORE UPDATE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER tlog_hashes_no_delete BEFORE DELETE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER channels_no_update BEFORE UPDATE ON channels BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER channels_no_delete BEFORE DELETE ON channels BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER visibility_no_update BEFORE UPDATE ON visibility BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
CREATE TRIGGER visibility_no_delete BEFORE DELETE ON visibility BEGIN SELECT RAISE(ABORT, 'the catalog is append-only'); END;
