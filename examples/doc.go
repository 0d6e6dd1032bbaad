// Package examples holds runnable programs for brickyard's users: a deploy
// tool (examples/deploy) that resolves the newest trusted version of an
// artifact to the digest to deploy. Each is a small main package that uses
// the library the way an importer would.
package examples
