package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// EventCloudAction is the event type of a CloudAction.
const EventCloudAction = "cloud-action"

// CloudAction is one change brickyard made in a cloud for an artifact:
// an image deprecated, disabled, deregistered, a snapshot deleted,
// permissions set, tags written. It is an event of the log (no other
// state), with the provider's request id, so that the log says what was
// done in the cloud and the provider's own audit trail (CloudTrail) can be
// joined with it.
type CloudAction struct {
	Provider  string `json:"provider"`          // "aws"
	Account   string `json:"account,omitempty"` // the account acted in
	Region    string `json:"region"`
	Action    string `json:"action"`   // the API action, e.g. "EnableImageDeprecation"
	Resource  string `json:"resource"` // the image or snapshot id
	RequestID string `json:"requestId,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Plan is the digest of the retention plan the action was made
	// under, if any (retention apply checks the log with it).
	Plan  string    `json:"plan,omitempty"`
	Actor string    `json:"-"` // who; the event's actor
	At    time.Time `json:"-"` // set by the catalog
}

// Validate checks a cloud action before it is written.
func (a CloudAction) Validate(d digest.Digest) error {
	if strings.TrimSpace(a.Provider) == "" || strings.TrimSpace(a.Action) == "" || strings.TrimSpace(a.Resource) == "" {
		return fmt.Errorf("%s: cloud action %+v needs a provider, an action and a resource: %w", d, a, ErrInvalidChange)
	}
	return nil
}

// CloudActionRecorder appends cloud actions to the event log.
type CloudActionRecorder interface {
	// RecordCloudAction appends a as an EventCloudAction event about
	// artifact d. Errors, with nothing written: ErrNotFound for an unknown
	// d; ErrInvalidChange for a missing provider, action or resource.
	RecordCloudAction(ctx context.Context, d digest.Digest, a CloudAction) error
}
