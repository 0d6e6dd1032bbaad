package retention

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PlanFormat is the format number of Plan's JSON.
const PlanFormat = 1

// Plan is a dry run: a decision for every artifact still stored, and what
// deleting would reclaim. Apply executes it.
type Plan struct {
	Format int `json:"format"`
	// Digest is over Inputs (catalog head, policy, in-use set, time):
	// equal inputs make equal decisions.
	Digest digest.Digest `json:"digest"`
	Inputs Inputs        `json:"inputs"`
	// Decided is the digest of Decisions, checked by Apply.
	Decided   digest.Digest `json:"decided"`
	Decisions []Decision    `json:"decisions"` // in publication order: parents first
	Reclaim   []StoreBytes  `json:"reclaim,omitempty"`
}

// Inputs are what a plan was made from.
type Inputs struct {
	Catalog catalog.LogHead `json:"catalog"`
	Policy  digest.Digest   `json:"policy"`
	InUse   digest.Digest   `json:"inUse"`
	Now     time.Time       `json:"now"` // ages are counted to this time, to the second
	// PolicyFile and Sources say where the policy and the in-use set came
	// from (for the CLI to read them again at apply); not in Digest.
	PolicyFile string   `json:"policyFile,omitempty"`
	Sources    []string `json:"sources,omitempty"`
}

// Decision is what the plan does with one artifact, and why.
type Decision struct {
	Digest     digest.Digest `json:"digest"`
	Name       string        `json:"name"`
	Version    string        `json:"version"`
	Platform   string        `json:"platform,omitempty"`
	Kind       artifact.Kind `json:"kind"`
	Store      string        `json:"store"`
	Repository string        `json:"repository"`
	MediaType  string        `json:"mediaType"` // of the manifest
	Size       int64         `json:"size"`      // of the manifest, in bytes
	Delete     bool          `json:"delete"`
	// Rule says why: the protection, or the policy rule and its line.
	Rule string `json:"rule"`
	// HeldBy, for an ancestor kept because a kept artifact was built on
	// it, is that artifact: "NAME@VERSION (sha256:...)".
	HeldBy string `json:"heldBy,omitempty"`
	// Order is the artifact's place in the catalog's publication order:
	// parents come before their children.
	Order int `json:"order"`
}

// Descriptor returns the descriptor of the artifact's manifest.
func (d Decision) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// Ref returns "name@version".
func (d Decision) Ref() string { return d.Name + "@" + d.Version }

// Action is "keep" or "delete".
func (d Decision) Action() string {
	if d.Delete {
		return "delete"
	}
	return "keep"
}

// Options are the inputs of MakePlan besides the catalog and the policy.
type Options struct {
	Now   time.Time // zero: time.Now()
	InUse InUseSet
	// Identify, if set, is asked for the other identities of machine
	// images and OCI-image artifacts (image ids, the tracked image's
	// digest) when some use matches no record directly.
	Identify Identifier
	// Resume names a plan being applied: its own tombstones count as
	// still stored, so the plan is made again as it was.
	Resume digest.Digest
}

// Identifier gives the identities of an artifact that the catalog does
// not hold: the region image ids of a machine image, the digest of the
// image an OCI-image artifact tracks.
type Identifier interface {
	Identities(ctx context.Context, d Decision) ([]string, error)
}

// node is one record as the plan needs it, its Decision made at the end.
// Its strings are shared between records (the scan interns them); its
// parents are parents[pOff:pOff+pLen] of the plan's parent arena (one
// slice without pointers for a million records, not a slice each).
type node struct {
	digest                          digest.Digest
	name, platform, store, repo, mt string
	kind                            artifact.Kind
	version                         *semver.Version
	size                            int64
	rule                            string
	state                           catalog.State
	atSec                           int64 // published: Unix seconds and nanoseconds (no *Location to scan)
	atNsec                          int32
	pOff, pLen                      int32
	holder                          int32 // for a kept ancestor: the kept artifact holding it; -1
	gone                            bool  // a tombstone
	keep, del, decided              bool
}

func (n *node) ref() string { return n.name + "@" + n.version.Original() }

// decision is n's Decision; heldBy is the HeldBy text of its holder.
func (n *node) decision(order int, heldBy string) Decision {
	return Decision{Digest: n.digest, Name: n.name, Version: n.version.Original(), Platform: n.platform, Kind: n.kind,
		Store: n.store, Repository: n.repo, MediaType: n.mt, Size: n.size, Delete: n.del, Rule: n.rule, HeldBy: heldBy, Order: order}
}

// MakePlan decides, for every stored artifact of c, keep or delete under
// p (see Policy for the rules), from one consistent scan of the catalog.
func MakePlan(ctx context.Context, c catalog.Scanner, p *Policy, o Options) (*Plan, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	var nodes chunked
	idx := newDigestIndex(&nodes)
	byName := map[string][]int32{}
	platforms := map[artifact.Platform]string{}
	var arena []int32              // every node's parents, see node
	since := map[int32]time.Time{} // when a node's state took effect, for the few not active
	snap, err := c.Scan(ctx, func(r *catalog.Record) error {
		i := int32(nodes.len())
		n := nodes.add() // filled in place: a node is a few hundred bytes
		*n = node{digest: r.Digest, name: r.Name, kind: r.Kind, store: r.Store, repo: r.Repository, mt: r.MediaType, size: r.Size,
			version: r.Version, atSec: r.Published.Unix(), atNsec: int32(r.Published.Nanosecond()), holder: -1}
		if !r.Platform.IsZero() {
			ps, ok := platforms[r.Platform]
			if !ok {
				ps = r.Platform.String()
				platforms[r.Platform] = ps
			}
			n.platform = ps
		}
		n.pOff = int32(len(arena))
		for _, pd := range r.Parents {
			if i, ok := idx.get(pd); ok {
				arena = append(arena, i)
			}
		}
		n.pLen = int32(len(arena)) - n.pOff
		n.state = catalog.StateActive
		if len(r.Lifecycle) > 0 {
			st, ch := r.Status(now)
			if ch != nil {
				n.state = st
				if since[i] = ch.Effective; ch.Effective.IsZero() {
					since[i] = ch.At
				}
			}
		}
		n.gone = r.Deleted != nil && (o.Resume == "" || digest.Digest(r.Deleted.Plan) != o.Resume)
		idx.put(r.Digest, i)
		byName[r.Name] = append(byName[r.Name], i)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retention plan: scan the catalog: %w", err)
	}
	pl := &Plan{Format: PlanFormat, Inputs: Inputs{Catalog: snap.Head, Policy: p.Digest, InUse: o.InUse.Digest, Now: now}}
	pl.Digest = pl.Inputs.digest()
	decide := func(i int32, del bool, why string) {
		n := nodes.at(i)
		if !n.decided {
			n.decided, n.keep, n.del, n.rule = true, !del, del, why
		}
	}

	// Protections first: pinned, in use, channel targets.
	for _, pin := range p.Pinned {
		for _, i := range matchRef(pin.Ref, &nodes, idx, byName) {
			decide(i, false, fmt.Sprintf("pinned (policy line %d)", pin.Line))
		}
	}
	if err := markInUse(ctx, o, &nodes, idx, byName, decide); err != nil {
		return nil, err
	}
	type chanKey struct{ name, channel string }
	history := map[chanKey][]string{}
	var chanOrder []chanKey
	for _, ch := range snap.Channels {
		k := chanKey{ch.Name, ch.Channel}
		if _, ok := history[k]; !ok {
			chanOrder = append(chanOrder, k)
		}
		history[k] = append(history[k], ch.Version)
	}
	for _, k := range chanOrder {
		h := history[k]
		cur := h[len(h)-1]
		for _, i := range byName[k.name] {
			if nodes.at(i).version.Original() == cur {
				decide(i, false, "channel "+k.channel+"'s current target")
			}
		}
	}

	// Then the first rule matching each name.
	for name, members := range byName {
		var rule *Rule
		for ri := range p.Rules {
			if p.Rules[ri].Matches(name) {
				rule = &p.Rules[ri]
				break
			}
		}
		if rule == nil {
			for _, i := range members {
				decide(i, false, "no rule matches "+name)
			}
			continue
		}
		at := fmt.Sprintf(" (rule line %d)", rule.Line)
		noRule := "kept by no rule" + at
		for _, i := range members {
			n := nodes.at(i)
			if n.state == catalog.StateActive {
				continue
			}
			age := now.Sub(since[i])
			switch {
			case rule.revokedSet && n.state == catalog.StateRevoked && age >= rule.RevokedAfter:
				decide(i, true, "revoked for "+days(age)+", delete after "+human(rule.RevokedAfter)+at)
			case rule.deprecatedSet && n.state == catalog.StateDeprecated && age >= rule.DeprecatedAfter:
				decide(i, true, "deprecated for "+days(age)+", delete after "+human(rule.DeprecatedAfter)+at)
			}
		}
		keepNewest(&nodes, members, rule, at, decide)
		if rule.ChannelHistory > 0 {
			for _, k := range chanOrder {
				if k.name != name {
					continue
				}
				h := history[k]
				var back []string // the targets back, in order: a few, compared directly
				for j := len(h) - 2; j >= 0 && len(back) < rule.ChannelHistory; j-- {
					if !slices.Contains(back, h[j]) && h[j] != h[len(h)-1] {
						back = append(back, h[j])
					}
				}
				if len(back) == 0 {
					continue
				}
				for _, i := range members {
					if b := slices.Index(back, nodes.at(i).version.Original()); b >= 0 {
						decide(i, false, fmt.Sprintf("channel %s's target %d back (of the last %d)%s", k.channel, b+1, rule.ChannelHistory, at))
					}
				}
			}
		}
		for _, i := range members {
			n := nodes.at(i)
			age := now.Sub(time.Unix(n.atSec, int64(n.atNsec)))
			switch {
			case rule.Prereleases > 0 && n.version.Prerelease() != "" && age < rule.Prereleases:
				decide(i, false, "prerelease younger than "+human(rule.Prereleases)+at)
			case rule.YoungerThan > 0 && age < rule.YoungerThan:
				decide(i, false, "younger than "+human(rule.YoungerThan)+at)
			}
			decide(i, true, noRule)
		}
	}

	// A kept artifact keeps its whole ancestry: children come after their
	// parents in publication order, so walking it backwards reaches every
	// kept artifact before its ancestors. A holder's HeldBy text is made
	// once for all the ancestors it holds.
	heldBy := map[int32]string{}
	for i := nodes.len() - 1; i >= 0; i-- {
		n := nodes.get(i)
		if !n.keep || n.gone {
			continue
		}
		holder := int32(i)
		if n.holder >= 0 {
			holder = n.holder
		}
		for _, pi := range arena[n.pOff : n.pOff+n.pLen] {
			par := nodes.at(pi)
			if par.keep || par.gone {
				continue
			}
			if _, ok := heldBy[holder]; !ok {
				h := nodes.at(holder)
				heldBy[holder] = h.ref() + " (" + h.digest.String() + ")"
			}
			par.keep, par.del, par.holder = true, false, holder
			par.rule = "ancestor of a kept artifact"
		}
	}

	pl.Decisions = make([]Decision, 0, nodes.len())
	for i := 0; i < nodes.len(); i++ {
		if n := nodes.get(i); !n.gone {
			var hb string
			if n.holder >= 0 {
				hb = heldBy[n.holder]
			}
			pl.Decisions = append(pl.Decisions, n.decision(i, hb))
		}
	}
	pl.Decided = decidedDigest(pl.Decisions)
	return pl, nil
}

// chunked holds a plan's nodes in blocks of chunkSize, so that growing
// it to millions never copies what it holds.
type chunked struct{ blocks [][]node }

const chunkSize = 1 << 16

func (c *chunked) len() int {
	if len(c.blocks) == 0 {
		return 0
	}
	return (len(c.blocks)-1)*chunkSize + len(c.blocks[len(c.blocks)-1])
}

// add appends a zero node and returns it.
func (c *chunked) add() *node {
	if len(c.blocks) == 0 || len(c.blocks[len(c.blocks)-1]) == chunkSize {
		c.blocks = append(c.blocks, make([]node, 0, chunkSize))
	}
	last := &c.blocks[len(c.blocks)-1]
	*last = (*last)[:len(*last)+1]
	return &(*last)[len(*last)-1]
}

func (c *chunked) at(i int32) *node { return &c.blocks[i/chunkSize][i%chunkSize] }

func (c *chunked) get(i int) *node { return c.at(int32(i)) }

// digestIndex maps digests to node positions: a map from a 64-bit hash
// of the digest, without pointers for the collector to scan, checked
// against the node's digest; digests whose hash another holds already go
// to a plain map.
type digestIndex struct {
	seed   maphash.Seed
	nodes  *chunked
	byHash map[uint64]int32
	other  map[digest.Digest]int32
}

func newDigestIndex(nodes *chunked) *digestIndex {
	return &digestIndex{seed: maphash.MakeSeed(), nodes: nodes, byHash: map[uint64]int32{}, other: map[digest.Digest]int32{}}
}

func (x *digestIndex) put(d digest.Digest, i int32) {
	h := maphash.String(x.seed, string(d))
	if j, ok := x.byHash[h]; ok && x.nodes.at(j).digest != d {
		x.other[d] = i
		return
	}
	x.byHash[h] = i
}

func (x *digestIndex) get(d digest.Digest) (int32, bool) {
	if i, ok := x.byHash[maphash.String(x.seed, string(d))]; ok && x.nodes.at(i).digest == d {
		return i, true
	}
	i, ok := x.other[d]
	return i, ok
}

// days writes an age in whole days (hours under a day).
func days(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int64(d/(24*time.Hour)))
}

// keepNewest applies the rule's newest_per_* counts to one name's records:
// releases only (no prerelease), not revoked, counted by version (all the
// platforms of a version are one).
func keepNewest(nodes *chunked, members []int32, rule *Rule, at string, decide func(int32, bool, string)) {
	if rule.NewestPerMajor == 0 && rule.NewestPerMinor == 0 && rule.NewestPerStream == 0 {
		return
	}
	var cand []int32
	for _, i := range members {
		n := nodes.at(i)
		if n.version.Prerelease() == "" && n.state != catalog.StateRevoked && !n.gone {
			cand = append(cand, i)
		}
	}
	// Newest first. Candidates have no prerelease, so semver precedence
	// is that of (major, minor, patch); sorted on a copy of those.
	type cv struct {
		major, minor, patch uint64
		i                   int32
	}
	keys := make([]cv, len(cand))
	for k, i := range cand {
		v := nodes.at(i).version
		keys[k] = cv{v.Major(), v.Minor(), v.Patch(), i}
	}
	slices.SortStableFunc(keys, func(a, b cv) int {
		switch {
		case a.major != b.major:
			return cmp.Compare(b.major, a.major)
		case a.minor != b.minor:
			return cmp.Compare(b.minor, a.minor)
		}
		return cmp.Compare(b.patch, a.patch)
	})
	for k := range keys {
		cand[k] = keys[k].i
	}
	type key struct{ major, minor uint64 }
	// The rule texts, made once per major or stream.
	type textKey struct {
		what         byte
		major, minor uint64
	}
	texts := map[textKey]string{}
	text := func(what byte, major, minor uint64) string {
		k := textKey{what, major, minor}
		if t, ok := texts[k]; ok {
			return t
		}
		var t string
		switch what {
		case 'M':
			t = fmt.Sprintf("newest %d of major %d%s", rule.NewestPerMajor, major, at)
		case 'S':
			t = fmt.Sprintf("newest %d of stream %d.%d%s", rule.NewestPerStream, major, minor, at)
		default:
			t = fmt.Sprintf("newest patch of the %d newest minors of major %d%s", rule.NewestPerMinor, major, at)
		}
		texts[k] = t
		return t
	}
	perMajor := map[uint64][]*semver.Version{}
	perStream := map[key][]*semver.Version{}
	minors := map[uint64][]uint64{}
	newestPatch := map[key]*semver.Version{}
	within := func(list []*semver.Version, v *semver.Version, n int) ([]*semver.Version, bool) {
		for _, x := range list {
			if x.Equal(v) {
				return list, true
			}
		}
		if len(list) < n {
			return append(list, v), true
		}
		return list, false
	}
	for _, i := range cand {
		v := nodes.at(i).version
		var ok bool
		if rule.NewestPerMajor > 0 {
			perMajor[v.Major()], ok = within(perMajor[v.Major()], v, rule.NewestPerMajor)
			if ok {
				decide(i, false, text('M', v.Major(), 0))
			}
		}
		if rule.NewestPerStream > 0 {
			k := key{v.Major(), v.Minor()}
			perStream[k], ok = within(perStream[k], v, rule.NewestPerStream)
			if ok {
				decide(i, false, text('S', v.Major(), v.Minor()))
			}
		}
		if rule.NewestPerMinor > 0 {
			// Sorted newest first: the first version of a major.minor
			// seen is its newest patch.
			k := key{v.Major(), v.Minor()}
			top, seen := newestPatch[k]
			if !seen && len(minors[v.Major()]) < rule.NewestPerMinor {
				minors[v.Major()] = append(minors[v.Major()], v.Minor())
				newestPatch[k], top, seen = v, v, true
			}
			if seen && top.Equal(v) {
				decide(i, false, text('m', v.Major(), 0))
			}
		}
	}
}

// matchRef returns the records a pinned reference names: a digest, or
// NAME@VERSION (build metadata must match if given).
func matchRef(ref string, nodes *chunked, idx *digestIndex, byName map[string][]int32) []int32 {
	if d, err := digest.Parse(ref); err == nil {
		if i, ok := idx.get(d); ok {
			return []int32{i}
		}
		return nil
	}
	nm, vs, ok := strings.Cut(ref, "@")
	if !ok {
		return nil
	}
	v, err := semver.StrictNewVersion(vs)
	if err != nil {
		return nil
	}
	var out []int32
	for _, i := range byName[nm] {
		w := nodes.at(i).version
		if w.Equal(v) && (v.Metadata() == "" || v.Metadata() == w.Metadata()) {
			out = append(out, i)
		}
	}
	return out
}

// markInUse keeps every record a use names: by digest, NAME@VERSION, an
// image reference whose repository's last component (or whole path) and
// tag are the record's name or repository and version tag, or (through
// o.Identify) an image id or tracked image digest.
func markInUse(ctx context.Context, o Options, nodes *chunked, idx *digestIndex, byName map[string][]int32, decide func(int32, bool, string)) error {
	if len(o.InUse.Uses) == 0 {
		return nil
	}
	byTag := map[string][]Use{} // "name:tag" or "repository:tag"
	other := map[string][]Use{} // digests and ids no record has
	for _, u := range o.InUse.Uses {
		why := "in use: " + u.Ref + " at " + u.Where
		if i := matchRef(u.Ref, nodes, idx, byName); len(i) > 0 {
			for _, x := range i {
				decide(x, false, why)
			}
			continue
		}
		if d, err := digest.Parse(u.Ref); err == nil {
			other[d.String()] = append(other[d.String()], u)
			continue
		}
		ref, err := name.ParseReference(u.Ref, name.WeakValidation)
		if err != nil || !strings.ContainsAny(u.Ref, "/:@") {
			other[u.Ref] = append(other[u.Ref], u) // an image id, e.g. ami-0abc...
			continue
		}
		repo := ref.Context().RepositoryStr()
		switch r := ref.(type) {
		case name.Digest:
			if i, ok := idx.get(digest.Digest(r.DigestStr())); ok {
				decide(i, false, why)
			} else {
				other[r.DigestStr()] = append(other[r.DigestStr()], u)
			}
		case name.Tag:
			last := repo[strings.LastIndex(repo, "/")+1:]
			byTag[last+":"+r.TagStr()] = append(byTag[last+":"+r.TagStr()], u)
			if last != repo {
				byTag[repo+":"+r.TagStr()] = append(byTag[repo+":"+r.TagStr()], u)
			}
		}
	}
	for i := 0; i < nodes.len(); i++ {
		n := nodes.get(i)
		if len(byTag) > 0 {
			if tag, err := artifact.Tag(n.version); err == nil {
				for _, k := range []string{n.name + ":" + tag, n.repo + ":" + tag} {
					if us := byTag[k]; len(us) > 0 {
						decide(int32(i), false, "in use: "+us[0].Ref+" at "+us[0].Where)
					}
				}
			}
		}
		if len(other) == 0 || o.Identify == nil || n.gone || (n.kind != artifact.KindMachineImage && n.kind != artifact.KindOCIImage) {
			continue
		}
		ids, err := o.Identify.Identities(ctx, n.decision(i, ""))
		if err != nil {
			return fmt.Errorf("retention plan: identities of %s: %w", n.ref(), err)
		}
		for _, id := range ids {
			if us := other[id]; len(us) > 0 {
				decide(int32(i), false, "in use: "+us[0].Ref+" at "+us[0].Where)
			}
		}
	}
	return nil
}

func (in Inputs) digest() digest.Digest {
	b, _ := json.Marshal(struct {
		Catalog catalog.LogHead `json:"catalog"`
		Policy  digest.Digest   `json:"policy"`
		InUse   digest.Digest   `json:"inUse"`
		Now     int64           `json:"now"`
	}{in.Catalog, in.Policy, in.InUse, in.Now.Unix()})
	return digest.FromBytes(b)
}

func decidedDigest(ds []Decision) digest.Digest {
	h := sha256.New()
	var b []byte
	for _, d := range ds {
		b = append(b[:0], d.Digest...)
		b = append(b, ' ')
		b = strconv.AppendBool(b, d.Delete)
		b = append(b, ' ')
		b = append(b, d.Rule...)
		b = append(b, ' ')
		b = append(b, d.HeldBy...)
		b = append(b, '\n')
		h.Write(b)
	}
	return digest.NewDigest(digest.SHA256, h)
}
