package retention

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidPolicy: a policy file that is malformed, has an unknown
	// field, a bad count, pattern or duration, or rules that contradict
	// each other. The message names the line.
	ErrInvalidPolicy = errors.New("invalid retention policy")
	// ErrInvalidSource: an in-use source that cannot be read or parsed.
	ErrInvalidSource = errors.New("invalid in-use source")
	// ErrStalePlan: the catalog, the policy or the in-use set changed
	// since the plan was made, or the plan was edited.
	ErrStalePlan = errors.New("stale retention plan")
	// ErrNoImageDeleter: the plan deletes machine images and no Deleter
	// for them was given.
	ErrNoImageDeleter = errors.New("no machine-image deleter")
	// ErrRefused: the cloud refused to delete an artifact's images
	// (deregistration protection); Apply left the artifact.
	ErrRefused = errors.New("deletion refused")
	// ErrInvalidPlan: a plan file that cannot be parsed.
	ErrInvalidPlan = errors.New("invalid retention plan")
)
