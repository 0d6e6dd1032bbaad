package cloud

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrNotMachineImage is returned for a record of another kind.
	ErrNotMachineImage = errors.New("not a machine-image artifact")
	// ErrRefused is wrapped by Delete for images it would not delete.
	ErrRefused = errors.New("refused")
)
