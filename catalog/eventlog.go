package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Event is one entry of a catalog's append-only event log. Every change
// to a catalog (an artifact recorded, a signature, a lifecycle change, a
// channel move, a visibility change) is one event, appended in the same
// transaction as the change; events are never updated or deleted.
//
// Events are hash-chained (Hash covers Prev and the event's LeafData) and
// are the leaves of an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog),
// whose signed checkpoints (golang.org/x/mod/sumdb/note) let anyone check
// offline that the log was only appended to (VerifyLog).
type Event struct {
	Seq     int64     // 0-based position in the log: the tlog leaf index
	At      time.Time // UTC, to the second
	Actor   string    // who made the change
	Type    string    // EventRecord, EventSign, ...
	Subject string    // what it is about: a digest, or "name/channel"
	Body    string    // canonical JSON of the change
	Prev    string    // hex Hash of the previous event, "" for the first
	Hash    string    // hex SHA-256 of Prev and LeafData
}

// Event types.
const (
	EventRecord     = "record"
	EventSign       = "sign"
	EventLifecycle  = "lifecycle"
	EventChannel    = "channel"
	EventVisibility = "visibility"
)

// LeafData is the byte string an event contributes to the Merkle tree and
// to its chain hash: its fields, one per line, the body last.
func (e Event) LeafData() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n%s\n%s\n%s\n%s", e.Seq, e.At.Unix(), e.Actor, e.Type, e.Subject, e.Body)
	return b.Bytes()
}

// ChainHash returns the hex SHA-256 of prev and e's LeafData.
func (e Event) ChainHash(prev string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(e.LeafData())
	return hex.EncodeToString(h.Sum(nil))
}

// CheckpointOrigin is the first line of a catalog checkpoint note.
const CheckpointOrigin = "brickyard catalog event log"

// FormatCheckpoint returns the text of a checkpoint for tree: the origin
// line, then tlog's tree format ("go.sum database tree", size, root hash).
func FormatCheckpoint(tree tlog.Tree) []byte {
	return append([]byte(CheckpointOrigin+"\n"), tlog.FormatTree(tree)...)
}

// ParseCheckpoint returns the tree a checkpoint's (verified) note text states.
func ParseCheckpoint(text string) (tlog.Tree, error) {
	rest, ok := strings.CutPrefix(text, CheckpointOrigin+"\n")
	if !ok {
		return tlog.Tree{}, fmt.Errorf("%w: checkpoint does not start with %q", ErrLogTampered, CheckpointOrigin)
	}
	t, err := tlog.ParseTree([]byte(rest))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%w: checkpoint: %v", ErrLogTampered, err)
	}
	return t, nil
}

// EventLog is what a backend exposes of its log for verification.
type EventLog interface {
	// Events returns every event in Seq order.
	Events(ctx context.Context) ([]Event, error)
	// Checkpoints returns every stored signed checkpoint note, oldest first.
	Checkpoints(ctx context.Context) ([][]byte, error)
}

// Checkpointer signs the current state of a backend's log.
type Checkpointer interface {
	// Checkpoint signs the Merkle tree of the whole log with s, stores the
	// signed note and returns it.
	Checkpoint(ctx context.Context, s note.Signer) ([]byte, error)
}

// LogReport is the outcome of VerifyLog.
type LogReport struct {
	Events      int64 // events checked
	Checkpoints int   // signed checkpoints checked
	Root        tlog.Hash
}

// VerifyLog checks a catalog's event log offline: the events are numbered
// 0, 1, 2, ... without a gap, each one's Prev is the previous one's Hash and
// its Hash is ChainHash(Prev); and every checkpoint is signed by one of the
// verifiers and states the Merkle root of exactly the first N events as
// they are now. An edited, deleted, inserted or reordered row breaks the
// chain, and if the chain was recomputed to hide it, the checkpoints.
//
// Errors wrap ErrLogTampered and name the first event or checkpoint at
// fault; a checkpoint signed by no given key wraps note.UnverifiedNoteError.
func VerifyLog(ctx context.Context, l EventLog, verifiers note.Verifiers) (LogReport, error) {
	events, err := l.Events(ctx)
	if err != nil {
		return LogReport{}, err
	}
	prev := ""
	leaves := make([]tlog.Hash, 0, len(events))
	for i, e := range events {
		switch {
		case e.Seq != int64(i):
			return LogReport{}, fmt.Errorf("%w: event %d is numbered %d (a row deleted, inserted or reordered)", ErrLogTampered, i, e.Seq)
		case e.Prev != prev:
			return LogReport{}, fmt.Errorf("%w: event %d does not follow event %d (chain broken: a row deleted, inserted or reordered)", ErrLogTampered, i, i-1)
		case e.ChainHash(prev) != e.Hash:
			return LogReport{}, fmt.Errorf("%w: event %d (%s %s) does not match its hash (the row was edited)", ErrLogTampered, i, e.Type, e.Subject)
		}
		prev = e.Hash
		leaves = append(leaves, tlog.RecordHash(e.LeafData()))
	}
	hashes := newMemHashes(leaves)
	cps, err := l.Checkpoints(ctx)
	if err != nil {
		return LogReport{}, err
	}
	for i, raw := range cps {
		n, err := note.Open(raw, verifiers)
		if err != nil {
			return LogReport{}, fmt.Errorf("checkpoint %d: %w", i+1, err)
		}
		tree, err := ParseCheckpoint(n.Text)
		if err != nil {
			return LogReport{}, fmt.Errorf("checkpoint %d: %w", i+1, err)
		}
		if tree.N > int64(len(events)) {
			return LogReport{}, fmt.Errorf("%w: checkpoint %d covers %d events, the log holds %d (rows deleted)", ErrLogTampered, i+1, tree.N, len(events))
		}
		root, err := tlog.TreeHash(tree.N, hashes)
		if err != nil {
			return LogReport{}, err
		}
		if root != tree.Hash {
			return LogReport{}, fmt.Errorf("%w: the first %d events no longer hash to checkpoint %d's signed root (history rewritten)", ErrLogTampered, tree.N, i+1)
		}
	}
	rep := LogReport{Events: int64(len(events)), Checkpoints: len(cps)}
	if len(events) > 0 {
		if rep.Root, err = tlog.TreeHash(int64(len(events)), hashes); err != nil {
			return LogReport{}, err
		}
	}
	return rep, nil
}

// memHashes is a tlog.HashReader over the stored hashes of a tree built
// in memory from its leaves.
type memHashes []tlog.Hash

func newMemHashes(leaves []tlog.Hash) memHashes {
	var m memHashes
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, m)
		if err != nil {
			panic(err) // m holds every hash StoredHashesForRecordHash asks for
		}
		m = append(m, hs...)
	}
	return m
}

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, errors.New("tlog hash index " + strconv.FormatInt(x, 10) + " out of range")
		}
		out[i] = m[x]
	}
	return out, nil
}

// SignCheckpoint returns a signed checkpoint note for the first n events
// whose leaf hashes are given.
func SignCheckpoint(leaves []tlog.Hash, s note.Signer) ([]byte, error) {
	n := int64(len(leaves))
	var root tlog.Hash
	if n > 0 {
		var err error
		if root, err = tlog.TreeHash(n, newMemHashes(leaves)); err != nil {
			return nil, err
		}
	}
	return note.Sign(&note.Note{Text: string(FormatCheckpoint(tlog.Tree{N: n, Hash: root}))}, s)
}
