package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/brickyard/brickyard/catalog/retention"
	"github.com/opencontainers/go-digest"
)

// RetentionDeleter is the retention.ImageDeleter for AWS: it deletes the
// images of a machine-image artifact a retention plan deletes (of each
// machine-image member, for an index) through
// Syncer.Delete (deregister in every region, then the snapshots each image
// alone used), each change an EventCloudAction in the log naming the plan
// and carrying the request id. An image under deregistration protection is
// refused: the error wraps retention.ErrRefused, ErrRefused and
// ec2.ErrDeregistrationProtected, so retention.Apply leaves the artifact
// and goes on.
type RetentionDeleter struct {
	Syncer *Syncer
	// Index holds the catalog's AWS machine images (BuildIndex), read
	// before the apply: a decision's images are looked up in it by digest.
	Index *Index
}

var _ retention.ImageDeleter = (*RetentionDeleter)(nil)

// DeleteImages implements retention.ImageDeleter: for an index record,
// the images of each of its AWS machine-image members, all tried even if
// one is refused. A record the index does not hold (another provider, or
// a manifest without images) is an error naming it: retention must not
// tombstone a record whose images it could not delete.
func (rd *RetentionDeleter) DeleteImages(ctx context.Context, plan digest.Digest, d retention.Decision) error {
	ks := rd.Index.AllByDigest(d.Digest)
	if len(ks) == 0 {
		return fmt.Errorf("delete the images of %s (%s): not an AWS machine image of the index: %w", d.Ref(), d.Digest, ErrNotMachineImage)
	}
	s := *rd.Syncer
	s.Plan = plan.String()
	var errs []error
	for _, k := range ks {
		if _, err := s.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if errors.Is(err, ErrRefused) {
		return fmt.Errorf("%w: %w", retention.ErrRefused, err)
	}
	return err
}
