package ec2

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Sentinel errors; test with errors.Is. API errors keep the SDK's
// smithy.APIError in their chain (errors.As), and are also marked with the
// sentinel that fits their code.
var (
	ErrNotFound                = errors.New("not found in EC2")
	ErrDeregistrationProtected = errors.New("image is under deregistration protection")
	ErrAccessDenied            = errors.New("access denied by EC2")
	ErrInvalidPrincipal        = errors.New("invalid principal")
	ErrInvalidOption           = errors.New("invalid option")
)

// wrap names the call, region and resource of an API error and marks it
// with the sentinel its code maps to.
func wrap(action, region, resource string, err error) error {
	if err == nil {
		return nil
	}
	where := action + " " + region
	if resource != "" {
		where += " " + resource
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure":
			return fmt.Errorf("ec2 %s: %w: %w", where, ErrAccessDenied, err)
		case "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound":
			return fmt.Errorf("ec2 %s: %w: %w", where, ErrNotFound, err)
		}
	}
	return fmt.Errorf("ec2 %s: %w", where, err)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
