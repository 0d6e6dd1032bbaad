package retention

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
)

// AgeBuckets are the upper bounds of Group.Ages' buckets; the last bucket
// holds everything older.
var AgeBuckets = []time.Duration{7 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 365 * 24 * time.Hour}

// AgeLabels name the buckets of Group.Ages.
var AgeLabels = []string{"<7d", "<30d", "<90d", "<1y", "≥1y"}

// Report is the sprawl report: what a catalog and its stores hold, per
// name and per owner, what nobody uses, what the stores hold that the
// catalog does not know and the reverse, and what a plan would reclaim.
type Report struct {
	Now    time.Time `json:"now"`
	Names  []Group   `json:"names"`
	Owners []Group   `json:"owners"` // by store (a registry HOST[/NAMESPACE], or the layout store)
	// Orphans are manifests or tags in a store the catalog does not
	// know: "store repo:tag (sha256:...)" or "store repo (repository)".
	Orphans []string `json:"orphans"`
	// Dangling are records whose manifest is gone from the store, with no
	// tombstone: "name@version (sha256:...) in store repo".
	Dangling []string `json:"dangling"`
	// Reclaim is what the plan would delete and reclaim.
	Deletes int          `json:"deletes"`
	Reclaim []StoreBytes `json:"reclaim"`
	Series  []Series     `json:"series"` // per name, for the chart
}

// Group is one name's or owner's figures, over stored artifacts
// (tombstones are counted in Deleted only).
type Group struct {
	Key      string `json:"key"`
	Versions int    `json:"versions"`
	// UniqueBytes are of blobs one artifact of the group holds alone;
	// SharedBytes of blobs several hold, each counted once.
	UniqueBytes int64 `json:"uniqueBytes"`
	SharedBytes int64 `json:"sharedBytes"`
	Unsigned    int   `json:"unsigned"`
	Revoked     int   `json:"revoked"`
	Deprecated  int   `json:"deprecated"`
	// Idle are in no channel (current or past target) and not in use.
	Idle    int   `json:"idle"`
	Deleted int   `json:"deleted"` // tombstones
	Ages    []int `json:"ages"`    // counts per AgeBuckets bucket, by publication time
}

// Series is one name's stored versions and bytes over time: one point per
// publication (cumulative), tombstones left out.
type Series struct {
	Name   string      `json:"name"`
	Points []DataPoint `json:"points"`
}

// DataPoint is a Series point.
type DataPoint struct {
	At       time.Time `json:"at"`
	Versions int       `json:"versions"`
	Bytes    int64     `json:"bytes"`
}

// MakeReport scans c, reads the stores (every stored artifact's manifest
// and the tags of each repository) and joins them with plan (made by
// MakePlan from c, for the in-use set and what would be reclaimed; Measure
// it first for bytes).
func MakeReport(ctx context.Context, c catalog.Scanner, plan *Plan, stores Stores) (*Report, error) {
	now := plan.Inputs.Now
	rep := &Report{Now: now, Orphans: []string{}, Dangling: []string{}, Reclaim: plan.Reclaim}
	decided := make(map[digest.Digest]*Decision, len(plan.Decisions))
	for i := range plan.Decisions {
		d := &plan.Decisions[i]
		decided[d.Digest] = d
		if d.Delete {
			rep.Deletes++
		}
	}
	type item struct {
		r     catalog.Record
		blobs map[digest.Digest]int64
	}
	var items []item
	channels := map[string]bool{} // name@version ever a channel target
	snap, err := c.Scan(ctx, func(r *catalog.Record) error {
		x := *r
		x.Lifecycle = append([]catalog.LifecycleChange(nil), r.Lifecycle...)
		items = append(items, item{r: x})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, ch := range snap.Channels {
		channels[ch.Name+"@"+ch.Version] = true
	}
	known := map[repoKey]map[digest.Digest]bool{}
	for i := range items {
		it := &items[i]
		k := repoKey{it.r.Store, it.r.Repository}
		if known[k] == nil {
			known[k] = map[digest.Digest]bool{}
		}
		known[k][it.r.Digest] = true
		if it.r.Deleted != nil || stores == nil {
			continue
		}
		s, err := stores(it.r.Store)
		if err != nil {
			return nil, err
		}
		it.blobs = map[digest.Digest]int64{}
		d := Decision{Digest: it.r.Digest, MediaType: it.r.MediaType, Size: it.r.Size}
		if ok, err := s.Exists(ctx, it.r.Repository, d.Descriptor()); err != nil {
			return nil, err
		} else if !ok {
			rep.Dangling = append(rep.Dangling, it.r.Ref()+" ("+it.r.Digest.String()+") in "+it.r.Store+" "+it.r.Repository)
			continue
		}
		if err := reach(ctx, s, it.r.Repository, d.Descriptor(), it.blobs); err != nil {
			return nil, err
		}
	}
	if stores != nil {
		if err := orphans(ctx, stores, known, rep); err != nil {
			return nil, err
		}
	}
	group := func(key func(catalog.Record) string) []Group {
		gs := map[string]*Group{}
		holders := map[string]map[digest.Digest]int{}
		sizes := map[digest.Digest]int64{}
		for _, it := range items {
			k := key(it.r)
			g := gs[k]
			if g == nil {
				g = &Group{Key: k, Ages: make([]int, len(AgeLabels))}
				gs[k], holders[k] = g, map[digest.Digest]int{}
			}
			if it.r.Deleted != nil {
				g.Deleted++
				continue
			}
			g.Versions++
			if len(it.r.Signatures) == 0 {
				g.Unsigned++
			}
			switch st, _ := it.r.Status(now); st {
			case catalog.StateRevoked:
				g.Revoked++
			case catalog.StateDeprecated:
				g.Deprecated++
			}
			rule := ""
			if d := decided[it.r.Digest]; d != nil {
				rule = d.Rule
			}
			if !channels[it.r.Name+"@"+it.r.Version.Original()] && !strings.HasPrefix(rule, "in use") {
				g.Idle++
			}
			age, b := now.Sub(it.r.Published), 0
			for b < len(AgeBuckets) && age >= AgeBuckets[b] {
				b++
			}
			g.Ages[b]++
			for d, size := range it.blobs {
				holders[k][d]++
				sizes[d] = size
			}
		}
		out := make([]Group, 0, len(gs))
		for k, g := range gs {
			for d, n := range holders[k] {
				if n == 1 {
					g.UniqueBytes += sizes[d]
				} else {
					g.SharedBytes += sizes[d]
				}
			}
			out = append(out, *g)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	}
	rep.Names = group(func(r catalog.Record) string { return r.Name })
	rep.Owners = group(func(r catalog.Record) string { return r.Store })
	series := map[string]*Series{}
	var names []string
	for _, it := range items {
		if it.r.Deleted != nil {
			continue
		}
		s := series[it.r.Name]
		if s == nil {
			s = &Series{Name: it.r.Name}
			series[it.r.Name] = s
			names = append(names, it.r.Name)
		}
		p := DataPoint{At: it.r.Published, Versions: 1}
		for _, size := range it.blobs {
			p.Bytes += size
		}
		if n := len(s.Points); n > 0 {
			p.Versions += s.Points[n-1].Versions
			p.Bytes += s.Points[n-1].Bytes
		}
		s.Points = append(s.Points, p)
	}
	sort.Strings(names)
	for _, n := range names {
		rep.Series = append(rep.Series, *series[n])
	}
	return rep, nil
}

// repoKey names a repository of a store.
type repoKey struct{ store, repo string }

// repositoryLister is implemented by the stores that can list their
// repositories (the layout store, registries with a catalog API).
type repositoryLister interface {
	Repositories(ctx context.Context) ([]string, error)
}

// orphans adds to rep the repositories and tags of the stores the catalog
// knows nothing of. Signature, attestation and referrers index tags are
// attachments, not orphans, while what they are attached to is known.
func orphans(ctx context.Context, stores Stores, known map[repoKey]map[digest.Digest]bool, rep *Report) error {
	byStore := map[string]map[string]bool{}
	for k := range known {
		if byStore[k.store] == nil {
			byStore[k.store] = map[string]bool{}
		}
		byStore[k.store][k.repo] = true
	}
	var storeNames []string
	for s := range byStore {
		storeNames = append(storeNames, s)
	}
	sort.Strings(storeNames)
	for _, sn := range storeNames {
		s, err := stores(sn)
		if err != nil {
			return err
		}
		repos := byStore[sn]
		if rl, ok := s.(repositoryLister); ok {
			all, err := rl.Repositories(ctx)
			if err != nil {
				return err
			}
			for _, r := range all {
				if !repos[r] {
					rep.Orphans = append(rep.Orphans, sn+" "+r+" (repository)")
				}
			}
		}
		var names []string
		for r := range repos {
			names = append(names, r)
		}
		sort.Strings(names)
		for _, r := range names {
			tags, err := s.Tags(ctx, r)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			kn := known[repoKey{sn, r}]
			for _, t := range tags {
				if attachedTo(t, kn) {
					continue
				}
				desc, err := s.Resolve(ctx, r, t)
				if err != nil {
					return err
				}
				if _, verr := artifact.VersionOfTag(t); verr != nil || !kn[desc.Digest] {
					rep.Orphans = append(rep.Orphans, sn+" "+r+":"+t+" ("+desc.Digest.String()+")")
				}
			}
		}
	}
	return nil
}

// attachedTo reports whether tag is a signature or attestation tag of a
// known manifest, or a referrers tag schema index (of a known artifact or
// of the image an OCI-image artifact tracks).
func attachedTo(tag string, known map[digest.Digest]bool) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(tag, ".sig"), ".att")
	alg, hex, ok := strings.Cut(base, "-")
	if !ok || digest.Digest(alg+":"+hex).Validate() != nil {
		return false
	}
	return base == tag || known[digest.Digest(alg+":"+hex)]
}
