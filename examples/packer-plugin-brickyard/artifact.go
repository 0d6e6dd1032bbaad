package main

import (
	"github.com/brickyard/brickyard/catalog"
)

// Artifact is what the post-processor hands to the next one (and to
// Packer's manifest post-processor): the published version, by digest.
type Artifact struct {
	rec   catalog.Record
	files []string
}

func (a *Artifact) BuilderId() string { return BuilderID }
func (a *Artifact) Files() []string   { return a.files }

// Id is the artifact's manifest digest: its identity.
func (a *Artifact) Id() string { return a.rec.Digest.String() }

func (a *Artifact) String() string { return a.rec.Ref() + " " + a.rec.Digest.String() }

func (a *Artifact) State(name string) interface{} {
	switch name {
	case "digest":
		return a.rec.Digest.String()
	case "ref":
		return a.rec.Ref()
	}
	return nil
}

// Destroy keeps everything: a published version is immutable.
func (a *Artifact) Destroy() error { return nil }
