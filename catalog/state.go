package catalog

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// State is where an artifact is in its lifecycle: active → deprecated →
// revoked; a reinstatement makes it active again. Each change is an event.
type State string

// Lifecycle states.
const (
	StateActive     State = "active"
	StateDeprecated State = "deprecated"
	StateRevoked    State = "revoked"
)

// LifecycleChange is one lifecycle event of an artifact: deprecate, revoke
// or reinstate (State active).
type LifecycleChange struct {
	State  State
	Reason string // why; required
	Actor  string // who; required
	// Secrets says the artifact holds secrets (keys, credentials): an
	// artifact deprecated or revoked with Secrets may never be made public.
	Secrets bool
	// Effective is when the change takes effect; zero means when it is
	// recorded. If set it must be in the future: the change then takes
	// effect on its own when that time passes (evaluated at read time).
	Effective time.Time
	// Cause is set on a revocation cascaded from an ancestor: the digest of
	// the ancestor whose revocation caused it.
	Cause digest.Digest
	// NoCascade, on a revocation request, revokes only this artifact, not
	// its descendants (which are revoked too by default). Not stored.
	NoCascade bool
	At        time.Time // when it was recorded, to the second, UTC (set by the catalog)
}

// Validate checks a change request against now.
func (c LifecycleChange) Validate(d digest.Digest, now time.Time) error {
	switch c.State {
	case StateActive, StateDeprecated, StateRevoked:
	default:
		return fmt.Errorf("%s: lifecycle state %q: %w (active, deprecated or revoked)", d, c.State, ErrInvalidChange)
	}
	if strings.TrimSpace(c.Reason) == "" || strings.TrimSpace(c.Actor) == "" {
		return fmt.Errorf("%s: %s needs a reason and an actor: %w", d, c.State, ErrInvalidChange)
	}
	if !c.Effective.IsZero() && !c.Effective.After(now) {
		return fmt.Errorf("%s: %s scheduled at %s, which is not in the future: %w", d, c.State, c.Effective.UTC().Format(time.RFC3339), ErrInvalidSchedule)
	}
	return nil
}

// Status returns r's lifecycle state at time now and the change that set
// it (nil while r has never left StateActive). Changes apply in the order
// they take effect (Effective, or At if unscheduled); a scheduled change
// counts only once its time has passed.
func (r Record) Status(now time.Time) (State, *LifecycleChange) {
	changes := make([]LifecycleChange, 0, len(r.Lifecycle))
	for _, c := range r.Lifecycle {
		if !c.effective().After(now) {
			changes = append(changes, c)
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].effective().Before(changes[j].effective()) })
	if len(changes) == 0 {
		return StateActive, nil
	}
	c := changes[len(changes)-1]
	return c.State, &c
}

func (c LifecycleChange) effective() time.Time {
	if c.Effective.IsZero() {
		return c.At
	}
	return c.Effective
}

// Describe says what a change is, for messages: "revoked by security at
// 2026-11-24T10:00:00Z: CVE-2026-1 (revoked by ancestor sha256:...)".
func (c LifecycleChange) Describe() string {
	s := fmt.Sprintf("%s by %s at %s: %s", c.State, c.Actor, c.effective().UTC().Format(time.RFC3339), c.Reason)
	if c.Cause != "" && !strings.Contains(c.Reason, "by ancestor") { // cascaded reasons already name it
		s += " (by ancestor " + c.Cause.String() + ")"
	}
	return s
}

// Lifecycler appends lifecycle changes.
type Lifecycler interface {
	// ChangeLifecycle appends change c to artifact d and, for a revocation
	// without NoCascade, to every descendant of d not already revoked (with
	// Cause d and the reason "revoked by ancestor <ref>: <reason>"), all in
	// one transaction. It returns the digests changed, d first.
	//
	// Errors, with nothing written: ErrNotFound for an unknown d;
	// ErrInvalidChange for a bad state, empty reason or actor, or a
	// reinstatement of an active artifact; ErrInvalidSchedule for an
	// Effective time not in the future; ErrRevoked when revoking an
	// artifact already revoked.
	ChangeLifecycle(ctx context.Context, d digest.Digest, c LifecycleChange) ([]digest.Digest, error)
}

// Visibility levels.
const (
	VisibilityPrivate = "private"
	VisibilityShared  = "shared"
	VisibilityPublic  = "public"
)

// VisibilityChange is the intended visibility of an artifact: private,
// shared with named principals (cloud accounts, organisations, registry
// namespaces), or public; with who set it and why.
type VisibilityChange struct {
	Level      string   // VisibilityPrivate, VisibilityShared or VisibilityPublic
	Principals []string // for VisibilityShared: e.g. "aws:123456789012", "org:acme", "registry.example/team"
	Reason     string
	Actor      string
	At         time.Time // set by the catalog
}

// Visibilities records visibility intent.
type Visibilities interface {
	// SetVisibility appends v as artifact d's visibility intent. Errors,
	// with nothing written: ErrNotFound; ErrInvalidChange for an unknown
	// level, a share with no principals, principals on a non-shared level,
	// or a missing reason or actor; ErrRevoked when making public an
	// artifact that is revoked, or deprecated or revoked with Secrets.
	SetVisibility(ctx context.Context, d digest.Digest, v VisibilityChange) error
}

// ChannelChange is one move of a channel: NAME's channel CHANNEL now
// points at Version.
type ChannelChange struct {
	Name    string
	Channel string // e.g. "dev", "prod"
	Version string // as published, e.g. "2.1.0"
	Reason  string
	Actor   string
	At      time.Time // set by the catalog
}

// Channels are named pointers per artifact name at a version, with history.
type Channels interface {
	// SetChannel points c.Name's channel c.Channel at c.Version. Errors,
	// with nothing written: ErrNotFound if no such version is recorded;
	// ErrRevoked if a record of that version is revoked now; ErrDeleted if
	// one was deleted from its store (Tombstones);
	// ErrInvalidChange for a malformed channel name or a missing actor.
	SetChannel(ctx context.Context, c ChannelChange) error
	// Channel returns the channel's current target, or ErrNotFound.
	Channel(ctx context.Context, name, channel string) (ChannelChange, error)
	// ChannelHistory returns every move of the channel, oldest first.
	ChannelHistory(ctx context.Context, name, channel string) ([]ChannelChange, error)
	// RollbackChannel points the channel back at the version it pointed at
	// before its current one, as a new move, and returns it. ErrNotFound if
	// the channel has no earlier target; ErrRevoked if that one is revoked.
	RollbackChannel(ctx context.Context, name, channel, actor, reason string) (ChannelChange, error)
}
