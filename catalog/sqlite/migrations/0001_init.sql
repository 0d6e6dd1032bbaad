-- Version 1: artifacts, their parents and their signatures. Rows are only
-- ever inserted: the catalog is append-only.
CREATE TABLE artifacts (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order
	digest      TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL,
	version     TEXT NOT NULL, -- as published, with build metadata
	version_key TEXT NOT NULL, -- without build metadata: one digest per version and platform
	platform    TEXT NOT NULL, -- os/arch[/variant], or '' for any
	created     INTEGER NOT NULL, -- Unix seconds
	published   INTEGER NOT NULL, -- Unix seconds
	store       TEXT NOT NULL,
	repository  TEXT NOT NULL,
	media_type  TEXT NOT NULL,
	size        INTEGER NOT NULL,
	UNIQUE (name, version_key, platform)
);

CREATE TABLE parents (
	child    TEXT NOT NULL REFERENCES artifacts (digest),
	position INTEGER NOT NULL,
	parent   TEXT NOT NULL REFERENCES artifacts (digest),
	PRIMARY KEY (child, position)
);
CREATE INDEX parents_parent ON parents (parent);

CREATE TABLE signatures (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	artifact   TEXT NOT NULL REFERENCES artifacts (digest),
	key_id     TEXT NOT NULL,
	sig_digest TEXT NOT NULL,
	at         INTEGER NOT NULL, -- Unix seconds
	UNIQUE (artifact, key_id, sig_digest)
);
