// Package sqlite is brickyard's embedded catalog: a catalog.Catalog in one
// SQLite file, through the pure-Go modernc.org/sqlite driver (no cgo). The
// schema is versioned by embedded migrations; rows are only ever inserted.
// Times are kept to the second.
package sqlite
