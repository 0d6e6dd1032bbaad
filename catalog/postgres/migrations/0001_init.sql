-- Version 1: the whole catalog schema, as SQLite reaches it at its version 3.
-- Every table is append-only (triggers refuse UPDATE and DELETE); every
-- change appends one row to events, in the same transaction.
CREATE FUNCTION brickyard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the catalog is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END $$;

CREATE TABLE artifacts (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	digest      TEXT COLLATE "C" NOT NULL UNIQUE,
	name        TEXT COLLATE "C" NOT NULL,
	kind        TEXT NOT NULL,
	version     TEXT COLLATE "C" NOT NULL,
	version_key TEXT COLLATE "C" NOT NULL,
	platform    TEXT COLLATE "C" NOT NULL,
	created     BIGINT NOT NULL,
	published   BIGINT NOT NULL,
	store       TEXT NOT NULL,
	repository  TEXT NOT NULL,
	media_type  TEXT NOT NULL,
	size        BIGINT NOT NULL,
	UNIQUE (name, version_key, platform)
);

CREATE TABLE parents (
	child    TEXT COLLATE "C" NOT NULL REFERENCES artifacts (digest),
	position INTEGER NOT NULL,
	parent   TEXT COLLATE "C" NOT NULL REFERENCES artifacts (digest),
	PRIMARY KEY (child, position)
);
CREATE INDEX parents_parent ON parents (parent);

CREATE TABLE signatures (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	artifact   TEXT COLLATE "C" NOT NULL REFERENCES artifacts (digest),
	key_id     TEXT NOT NULL,
	sig_digest TEXT NOT NULL,
	at         BIGINT NOT NULL,
	UNIQUE (artifact, key_id, sig_digest)
);

CREATE TABLE lifecycle (
	seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	artifact  TEXT COLLATE "C" NOT NULL REFERENCES artifacts (digest),
	state     TEXT NOT NULL CHECK (state IN ('active', 'deprecated', 'revoked')),
	reason    TEXT NOT NULL,
	actor     TEXT NOT NULL,
	at        BIGINT NOT NULL,
	effective BIGINT NOT NULL DEFAULT 0,
	secrets   BOOLEAN NOT NULL DEFAULT FALSE,
	cause     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX lifecycle_artifact ON lifecycle (artifact, seq);

CREATE TABLE events (
	seq     BIGINT PRIMARY KEY,
	at      BIGINT NOT NULL,
	actor   TEXT NOT NULL,
	type    TEXT NOT NULL,
	subject TEXT NOT NULL,
	body    TEXT NOT NULL,
	prev    TEXT NOT NULL,
	hash    TEXT NOT NULL
);
CREATE TABLE tlog_hashes (
	idx  BIGINT PRIMARY KEY,
	hash BYTEA NOT NULL
);
CREATE TABLE checkpoints (
	seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	size BIGINT NOT NULL,
	note TEXT NOT NULL
);

CREATE TABLE channels (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name    TEXT COLLATE "C" NOT NULL,
	channel TEXT COLLATE "C" NOT NULL,
	version TEXT NOT NULL,
	reason  TEXT NOT NULL,
	actor   TEXT NOT NULL,
	at      BIGINT NOT NULL
);
CREATE INDEX channels_name ON channels (name, channel, seq);

CREATE TABLE visibility (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	artifact   TEXT COLLATE "C" NOT NULL REFERENCES artifacts (digest),
	level      TEXT NOT NULL CHECK (level IN ('private', 'shared', 'public')),
	principals TEXT NOT NULL,
	reason     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	at         BIGINT NOT NULL
);
CREATE INDEX visibility_artifact ON visibility (artifact, seq);

CREATE TRIGGER artifacts_append_only BEFORE UPDATE OR DELETE ON artifacts FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER parents_append_only BEFORE UPDATE OR DELETE ON parents FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER signatures_append_only BEFORE UPDATE OR DELETE ON signatures FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER lifecycle_append_only BEFORE UPDATE OR DELETE ON lifecycle FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER tlog_hashes_append_only BEFORE UPDATE OR DELETE ON tlog_hashes FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER channels_append_only BEFORE UPDATE OR DELETE ON channels FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
CREATE TRIGGER visibility_append_only BEFORE UPDATE OR DELETE ON visibility FOR EACH ROW EXECUTE FUNCTION brickyard_append_only();
