package brickyard

import (
	"context"
	"fmt"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// copyStore is a store on one side of a copy.
type copyStore interface {
	registry.CopySource
	registry.CopyTarget
}

// endpoint is one side of a Copy: a store, a repository in it and a tag.
type endpoint struct {
	store copyStore
	home  bool   // the Client's own store, whose catalog records what is copied in
	where string // for messages
	repo  string
	tag   string
}

// endpoint reads "HOST[:PORT]/REPO:TAG" or "HOST[:PORT]/REPO@VERSION" (a
// registry, see IsRegistry) or "NAME:TAG" / "NAME@VERSION" (the Client's
// store).
func (c *Client) endpoint(ref string) (endpoint, error) {
	var ep endpoint
	rest := ref
	first, after, hasSlash := strings.Cut(ref, "/")
	isRegistry := hasSlash && IsRegistry(ref)
	if isRegistry {
		rest = after
	}
	if name, version, ok := strings.Cut(rest, "@"); ok {
		v, err := artifact.ParseVersion(version)
		if err != nil {
			return ep, fmt.Errorf("reference %q: %w", ref, err)
		}
		ep.repo = name
		ep.tag, _ = artifact.Tag(v)
	} else if i := strings.LastIndex(rest, ":"); i > 0 {
		ep.repo, ep.tag = rest[:i], rest[i+1:]
	} else {
		return ep, fmt.Errorf("reference %q: want NAME:TAG, NAME@VERSION or HOST/NAME:TAG: %w", ref, ErrInvalidRef)
	}
	if err := artifact.ValidateName(ep.repo); err != nil {
		return ep, fmt.Errorf("reference %q: %w", ref, err)
	}
	if isRegistry {
		s, err := remote.New(first, c.o.remote...)
		if err != nil {
			return ep, err
		}
		ep.store, ep.where = s, first+"/"+ep.repo
		return ep, nil
	}
	if c.store == nil {
		return ep, fmt.Errorf("reference %q names the home store, and there is no home: %w", ref, ErrNoHome)
	}
	ep.store, ep.home, ep.where = c.store, true, "home store "+ep.repo
	return ep, nil
}

// Copy copies between two registries, with no home (see Client.Copy: src
// and dst are HOST[:PORT]/NAME:TAG). Of opts, only WithRemoteOptions and
// WithProgress apply. Errors: ErrNoHome if src or dst names a home store;
// otherwise as Client.Copy.
func Copy(ctx context.Context, src, dst string, opts ...Option) (Copied, error) {
	o, err := collect(opts)
	if err != nil {
		return Copied{}, err
	}
	c := &Client{o: o, remotes: map[string]*remote.Store{}}
	return c.Copy(ctx, src, dst)
}

// Copied is what Copy did.
type Copied struct {
	Descriptor ocispec.Descriptor // of what was copied
	From       string             // e.g. "home store web" or "127.0.0.1:5000/golden/web"
	To         string
	Tag        string
	// Recorded is the NAME@VERSION recorded in the catalog for a copy into
	// the Client's store, "" if nothing was.
	Recorded string
	// NotRecorded says why what a copy into the Client's store brought is
	// not recorded (not a version tag, not a brickyard artifact).
	NotRecorded []string
}

// Copy copies the manifest (or index) src names to dst, preserving its
// digest and carrying its cosign signatures, attestations and referrers
// along, and theirs in turn (as `oras cp -r` and `cosign copy` do); what
// dst already has is kept (signatures are merged). The tag is written
// last. src and dst are "HOST[:PORT]/NAME:TAG" (or @VERSION) for a
// registry or "NAME:TAG" / "NAME@VERSION" for the Client's store; both
// carry the same tag.
//
// A brickyard artifact copied into the Client's store is recorded in the
// catalog as Rebuild would, with the signatures the Client's trusted keys
// verify; its parents must be recorded first.
//
// Errors: ErrInvalidRef; registry.ErrImmutableTag if dst's tag points
// elsewhere; registry.ErrNotFound; the stores' and catalog's errors.
func (c *Client) Copy(ctx context.Context, src, dst string) (Copied, error) {
	s, err := c.endpoint(src)
	if err != nil {
		return Copied{}, err
	}
	d, err := c.endpoint(dst)
	if err != nil {
		return Copied{}, err
	}
	if s.tag != d.tag {
		return Copied{}, fmt.Errorf("copy keeps the tag: %s and %s differ: %w", s.tag, d.tag, ErrInvalidRef)
	}
	opts := []registry.CopyOption{registry.WithMerge(mergeSignatures)}
	if c.o.progress != nil {
		opts = append(opts, registry.WithProgress(func(b ocispec.Descriptor, done, total int64) {
			c.o.progress("copy "+b.Digest.Encoded()[:12], done, total)
		}))
	}
	desc, err := registry.Copy(ctx, s.store, s.repo, d.store, d.tag, append(opts, registry.ToRepository(d.repo))...)
	if err != nil {
		return Copied{}, err
	}
	out := Copied{Descriptor: desc, From: s.where, To: d.where, Tag: d.tag}
	if d.home {
		if out.Recorded, out.NotRecorded, err = c.recordCopied(ctx, d.repo, d.tag); err != nil {
			return out, fmt.Errorf("copied %s:%s to %s:%s, but not recorded in the catalog (copy it again once mended): %w", s.where, s.tag, d.where, d.tag, err)
		}
	}
	return out, nil
}

// recordCopied records what a copy brought into the Client's store's
// repository repo under tag, the way Rebuild does (it is the same code).
func (c *Client) recordCopied(ctx context.Context, repo, tag string) (string, []string, error) {
	v, err := artifact.VersionOfTag(tag)
	if err != nil {
		return "", []string{repo + ":" + tag + ": not a version tag"}, nil
	}
	rep, err := catalog.Rebuild(ctx, c.cat, oneTag{Store: c.store, repo: repo, tag: tag}, c.storeName, c.finder(c.store))
	if err != nil {
		return "", nil, err
	}
	if rep.Artifacts == 0 {
		return "", rep.Skipped, nil
	}
	return repo + "@" + v.String(), rep.Skipped, nil
}

// finder finds the signatures in st that the Client's trusted keys verify,
// or nil if it trusts no key.
func (c *Client) finder(st sign.Reader) catalog.SignatureFinder {
	if c.o.keys == nil {
		return nil
	}
	return signatureFinder{sign.StoreVerifier{Store: st, Verifier: c.o.keys}}
}

// signatureFinder adapts sign.StoreVerifier's FindSignatures to the
// catalog's SignatureFinder (sign and catalog do not import each other);
// catalog.Rebuild sets the time each is recorded.
type signatureFinder struct{ sign.StoreVerifier }

func (f signatureFinder) FindSignatures(ctx context.Context, repo string, d digest.Digest) ([]catalog.Signature, error) {
	sigs, err := f.StoreVerifier.FindSignatures(ctx, repo, d)
	out := make([]catalog.Signature, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, catalog.Signature{KeyID: s.KeyID, Digest: s.Descriptor.Digest})
	}
	return out, err
}

// oneTag is a store seen as holding only repo:tag, so that catalog.Rebuild
// records just what a copy brought in.
type oneTag struct {
	Store
	repo, tag string
}

func (o oneTag) Repositories(context.Context) ([]string, error) { return []string{o.repo}, nil }
func (o oneTag) Tags(context.Context, string) ([]string, error) { return []string{o.tag}, nil }

// mergeSignatures adds the signatures a copy brings to those the
// destination already has under a cosign tag (sign.MergeSignatures).
func mergeSignatures(ctx context.Context, dst registry.CopyTarget, repo, tag string, incoming ocispec.Descriptor) error {
	return sign.MergeSignatures(ctx, dst, repo, tag, incoming)
}

// Rebuild reconstructs the catalog's artifact records from what the store
// from holds (see catalog.Rebuild), with the signatures the Client's
// trusted keys verify: from is an OCI layout directory, a registry
// (HOST[:PORT][/NAMESPACE], see IsRegistry), or "" for the Client's store.
// Records rebuilt from a registry name it as their store.
func (c *Client) Rebuild(ctx context.Context, from string) (catalog.RebuildReport, error) {
	var src Store = c.store
	name := c.storeName
	if from != "" {
		if IsRegistry(from) {
			rs, err := remote.New(from, c.o.remote...)
			if err != nil {
				return catalog.RebuildReport{}, err
			}
			src, name = rs, rs.String()
		} else {
			ls, err := layoutAt(from)
			if err != nil {
				return catalog.RebuildReport{}, fmt.Errorf("rebuild from %s: %w", from, err)
			}
			src, name = ls, LayoutStoreName
		}
	}
	return catalog.Rebuild(ctx, c.cat, src, name, c.finder(src))
}
