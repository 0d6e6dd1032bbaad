package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/registry/ec2"
)

// ImageLister lists images page by page (DescribeImages).
type ImageLister interface {
	EachImage(ctx context.Context, region string, q ec2.ImageQuery, fn func(ec2.Image) error) error
}

// PermissionReader reads who may launch an image and who may create
// volumes from a snapshot (one call per resource: EC2 has no batch form).
type PermissionReader interface {
	LaunchPermissions(ctx context.Context, region, id string) (ec2.Permissions, error)
	SnapshotPermissions(ctx context.Context, region, id string) (ec2.Permissions, error)
}

// SnapshotLister lists snapshots (DescribeSnapshots).
type SnapshotLister interface {
	Snapshots(ctx context.Context, region string, q ec2.SnapshotQuery) ([]ec2.Snapshot, error)
}

// UseLister lists the instances and launch-template versions of a region
// with the images they launch.
type UseLister interface {
	Uses(ctx context.Context, region string) ([]ec2.Use, error)
}

// BlockPublicAccessReader reads a region's Image Block Public Access state.
type BlockPublicAccessReader interface {
	BlockPublicAccess(ctx context.Context, region string) (string, error)
}

// AWSAccount is what an AWS audit reads; *ec2.Client satisfies it.
type AWSAccount interface {
	Account(ctx context.Context) (string, error)
	ImageLister
	PermissionReader
	SnapshotLister
	UseLister
	BlockPublicAccessReader
}

var _ AWSAccount = (*ec2.Client)(nil)

// AWSOptions tune an AWS audit.
type AWSOptions struct {
	Regions []string
	// TrustedOwners are accounts (besides the audited one) whose public
	// AMIs may carry the catalog's names, e.g. the team's other accounts.
	TrustedOwners []string
	// Concurrency bounds the per-image and per-snapshot calls in flight per
	// region (default 8).
	Concurrency int
	Now         func() time.Time // nil: time.Now
}

// AWS audits the account acct in every region of o against the catalog's
// machine images ix (see the package doc and Rules). It returns an error
// only when it cannot start (the account cannot be identified); every
// other failure is a RuleCouldNotCheck finding and the audit goes on.
// Calls: per region, the image listing (pages), instances and launch templates (pages, plus one
// version listing per template), one Image Block Public Access read, one
// name-squatting listing per 200 names (pages), and one launch-permission
// read per image and one create-volume-permission read per snapshot, for
// which EC2 offers no batch call.
func AWS(ctx context.Context, acct AWSAccount, ix *cloud.Index, o AWSOptions) (Report, error) {
	account, err := acct.Account(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("audit: identify the account: %w", err)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	rep := Report{Account: account, Regions: slices.Sorted(slices.Values(o.Regions))}
	var mu sync.Mutex
	add := func(fs ...Finding) {
		mu.Lock()
		rep.Findings = append(rep.Findings, fs...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	var images int64
	for _, region := range rep.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &regionAudit{acct: acct, ix: ix, o: o, region: region, account: account, now: now, add: add}
			n := a.run(ctx)
			mu.Lock()
			images += int64(n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rep.Images = int(images)
	// Unsigned: once per artifact of this account with an image in an
	// audited region.
	for _, k := range ix.Artifacts {
		if k.Image.Owner != account || len(k.Record.Signatures) > 0 {
			continue
		}
		for _, region := range rep.Regions {
			if id, ok := k.Image.Images[region]; ok {
				f := finding(RuleUnsigned, "", k.Record.Digest.String(), fmt.Sprintf("%s (image %s in %s, ...) has no signature in the catalog", k.Record.Ref(), id, region))
				add(withArtifact(f, k))
				break
			}
		}
	}
	rep.sort()
	return rep, nil
}

func withArtifact(f Finding, k cloud.Known) Finding {
	f.Artifact, f.Digest = k.Record.Ref(), k.Record.Digest.String()
	return f
}

type regionAudit struct {
	acct    AWSAccount
	ix      *cloud.Index
	o       AWSOptions
	region  string
	account string
	now     time.Time
	add     func(...Finding)
}

func (a *regionAudit) couldNot(resource, what string, err error) {
	a.add(finding(RuleCouldNotCheck, a.region, resource, "could not check "+what+": "+err.Error()))
}

// run audits one region and returns the number of own images checked.
func (a *regionAudit) run(ctx context.Context) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if st, err := a.acct.BlockPublicAccess(ctx, a.region); err != nil {
		a.couldNot(a.region, "Image Block Public Access", err)
	} else if st != "block-new-sharing" {
		a.add(finding(RuleBlockPublicAccessOff, a.region, a.region, fmt.Sprintf("Image Block Public Access is %q in %s", st, a.region)))
	}
	a.squatting(ctx)

	var own []ec2.Image
	if err := a.acct.EachImage(ctx, a.region, ec2.ImageQuery{Owners: []string{"self"}}, func(im ec2.Image) error {
		own = append(own, im)
		return nil
	}); err != nil {
		a.couldNot(a.region, "the images the account owns (and every rule about them)", err)
		return 0
	}
	uses := map[string][]ec2.Use{}
	if us, err := a.acct.Uses(ctx, a.region); err != nil {
		a.couldNot(a.region, "which instances and launch templates use images (revoked or deprecated images in use)", err)
	} else {
		for _, u := range us {
			uses[u.ImageID] = append(uses[u.ImageID], u)
		}
	}
	// Records whose image is gone.
	have := map[string]bool{}
	for _, im := range own {
		have[im.ID] = true
	}
	for _, k := range a.ix.Artifacts {
		id, ok := k.Image.Images[a.region]
		if ok && k.Image.Owner == a.account && !have[id] {
			a.add(withArtifact(finding(RuleImageGone, a.region, id, fmt.Sprintf("%s records image %s in %s, which the account no longer has", k.Record.Ref(), id, a.region)), k))
		}
	}
	// Per image: permissions (one call each, bounded concurrency).
	sem := make(chan struct{}, a.o.Concurrency)
	var wg sync.WaitGroup
	for _, im := range own {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			a.image(ctx, im, uses[im.ID])
		}()
	}
	wg.Wait()
	return len(own)
}

// image checks one own image.
func (a *regionAudit) image(ctx context.Context, im ec2.Image, uses []ec2.Use) {
	k, known := a.ix.Lookup(a.region, im.ID)
	tag := func(f Finding) Finding {
		if known {
			return withArtifact(f, k)
		}
		return f
	}
	state := catalog.StateActive
	var intent ec2.Permissions
	if known {
		state, _ = k.Record.Status(a.now)
		var err error
		if intent, err = cloud.Intent(k.Record); err != nil {
			a.add(tag(finding(RuleCouldNotCheck, a.region, im.ID, "could not read the visibility intent: "+err.Error())))
			return
		}
	} else {
		a.add(finding(RuleUnknownImage, a.region, im.ID, fmt.Sprintf("image %s (%q, created %s) is not in the catalog", im.ID, im.Name, im.Created.Format(time.DateOnly))))
	}
	perms, err := a.acct.LaunchPermissions(ctx, a.region, im.ID)
	if err != nil {
		a.couldNot(im.ID, "the launch permissions of "+im.ID, err)
		perms = ec2.Permissions{Public: im.Public} // DescribeImages' own word on public
	}
	perms.Public = perms.Public || im.Public
	shared := !perms.IsZero()
	switch state {
	case catalog.StateRevoked:
		if shared {
			a.add(tag(finding(RuleRevokedShared, a.region, im.ID, fmt.Sprintf("revoked, still %s", perms))))
		}
		if im.State != "disabled" {
			a.add(tag(finding(RuleRevokedNotDisabled, a.region, im.ID, "revoked, image state "+im.State)))
		}
		if len(uses) > 0 {
			a.add(tag(finding(RuleRevokedInUse, a.region, im.ID, "revoked, used by "+describeUses(uses))))
		}
	case catalog.StateDeprecated:
		if shared {
			a.add(tag(finding(RuleDeprecatedShared, a.region, im.ID, fmt.Sprintf("deprecated, still %s", perms))))
		}
		if im.Deprecation.IsZero() || im.Deprecation.After(a.now) {
			a.add(tag(finding(RuleDeprecatedNotInTheCloud, a.region, im.ID, "deprecated in the catalog, not in EC2 (no deprecation time)")))
		}
		if len(uses) > 0 {
			a.add(tag(finding(RuleDeprecatedInUse, a.region, im.ID, "deprecated, used by "+describeUses(uses))))
		}
	}
	if state != catalog.StateRevoked { // revoked images have their own rules
		beyond := perms.Beyond(intent)
		if beyond.Public {
			a.add(tag(finding(RulePublicUnintended, a.region, im.ID, fmt.Sprintf("public; intent is %s", intent))))
			beyond.Public = false
		}
		if !beyond.IsZero() {
			a.add(tag(finding(RuleSharedBeyondIntent, a.region, im.ID, fmt.Sprintf("shared with %s beyond the intent (%s)", beyond, intent))))
		}
	}
	// Snapshots: public or shared wider than the AMI's intent (one call
	// each: DescribeSnapshots can list public snapshots in a batch, but the
	// accounts a snapshot is shared with need this call anyway).
	allowed := intent
	if state == catalog.StateRevoked {
		allowed = ec2.Permissions{}
	}
	for _, s := range im.Snapshots {
		sp, err := a.acct.SnapshotPermissions(ctx, a.region, s)
		if err != nil {
			a.couldNot(s, "the create-volume permissions of snapshot "+s+" of "+im.ID, err)
			continue
		}
		beyond := sp.Beyond(allowed.Snapshot())
		if beyond.Public {
			a.add(tag(finding(RuleSnapshotPublic, a.region, s, fmt.Sprintf("snapshot %s of %s is public; the image's intent is %s", s, im.ID, allowed))))
			beyond.Public = false
		}
		if !beyond.IsZero() {
			a.add(tag(finding(RuleSnapshotWider, a.region, s, fmt.Sprintf("snapshot %s of %s is shared with %s beyond the image's intent (%s)", s, im.ID, beyond, allowed))))
		}
	}
}

func describeUses(us []ec2.Use) string {
	var parts []string
	for i, u := range us {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(us)-5))
			break
		}
		parts = append(parts, u.Kind+" "+u.ID)
	}
	return strings.Join(parts, ", ")
}

// squatting lists public images whose names match the catalog's machine
// images (artifact names as prefixes, recorded AMI names the prefix does not
// cover exactly: one DescribeImages per 200 patterns, not per image) and
// reports those owned by anyone but the account and TrustedOwners.
func (a *regionAudit) squatting(ctx context.Context) {
	var patterns []string
	seen := map[string]bool{}
	for _, k := range a.ix.Artifacts {
		ps := []string{k.Record.Name + "*"}
		if n := k.Image.ImageName; n != "" && !strings.HasPrefix(strings.ToLower(n), k.Record.Name) {
			ps = append(ps, n) // not covered by the name's prefix
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				patterns = append(patterns, p)
			}
		}
	}
	slices.Sort(patterns)
	for chunk := range slices.Chunk(patterns, 200) { // EC2 takes at most 200 values per filter
		err := a.acct.EachImage(ctx, a.region, ec2.ImageQuery{ExecutableUsers: []string{"all"},
			Filters: map[string][]string{"name": chunk, "is-public": {"true"}}}, func(im ec2.Image) error {
			if im.Owner == a.account || slices.Contains(a.o.TrustedOwners, im.Owner) || !im.Public {
				return nil
			}
			for _, k := range a.ix.Artifacts {
				if matchesName(im.Name, k) {
					f := finding(RuleNameSquatting, a.region, im.ID,
						fmt.Sprintf("public image %s %q of account %s matches the catalog's machine image %q", im.ID, im.Name, im.Owner, k.Record.Name))
					f.Artifact = k.Record.Name
					a.add(f)
					return nil
				}
			}
			return nil
		})
		if err != nil {
			a.couldNot(a.region, "public images of other owners with the catalog's names (name squatting)", err)
			return
		}
	}
}

// matchesName says whether an image name could be taken for k's: equal to
// its recorded AMI name, or its artifact name followed by nothing or a
// separator.
func matchesName(name string, k cloud.Known) bool {
	if name == "" {
		return false
	}
	if k.Image.ImageName != "" && name == k.Image.ImageName {
		return true
	}
	rest, ok := strings.CutPrefix(strings.ToLower(name), k.Record.Name)
	return ok && (rest == "" || strings.ContainsRune("-_/ .", rune(rest[0])))
}
