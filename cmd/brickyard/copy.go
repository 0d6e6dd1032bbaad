package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// copyStore is a store on one side of a copy.
type copyStore interface {
	registry.CopySource
	registry.CopyTarget
}

// endpoint is one side of `brickyard copy`: a store, a repository in it and a tag.
type endpoint struct {
	store copyStore
	home  bool   // the home store, whose catalog records what is copied in
	where string // for messages
	repo  string
	tag   string
}

// parseEndpoint reads "HOST[:PORT]/REPO:TAG" (a registry: its first
// component has a '.' or ':' or is "localhost", as docker reads it) or
// "NAME:TAG" / "NAME@VERSION" (the home layout store).
func (e *env) parseEndpoint(ctx context.Context, ref string) (endpoint, error) {
	var ep endpoint
	rest := ref
	first, after, hasSlash := strings.Cut(ref, "/")
	isRegistry := hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost")
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
		return ep, usageError{fmt.Errorf("reference %q: want NAME:TAG, NAME@VERSION or HOST/NAME:TAG", ref)}
	}
	if err := artifact.ValidateName(ep.repo); err != nil {
		return ep, fmt.Errorf("reference %q: %w", ref, err)
	}
	if isRegistry {
		s, err := remote.New(first, e.remoteOptions()...)
		if err != nil {
			return ep, err
		}
		ep.store, ep.where = s, first+"/"+ep.repo
		return ep, nil
	}
	if e.store == nil {
		if err := e.open(ctx); err != nil {
			return ep, err
		}
	}
	ep.store, ep.home, ep.where = e.store, true, "home store "+ep.repo
	return ep, nil
}

func newCopyCmd(e *env) *cobra.Command {
	var keys []string
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an artifact between stores, with its signatures, preserving digests",
		Long: `Copy an artifact (or any image) between the home store and OCI registries,
or between two registries, preserving its digest and carrying its cosign
signature, attestations and referrers along, and theirs in turn, as
oras cp -r and cosign copy do. What the destination already has is kept:
signatures and referrers are added to its own. The tag is written last, so
a copy that fails leaves no tag behind.

SRC and DST are HOST[:PORT]/NAME:TAG for a registry (credentials from the
docker config.json and credential helpers; plain HTTP for loopback hosts or
with --insecure) or NAME:TAG / NAME@VERSION for the home store:

  brickyard copy web@1.1.0 registry.example:5000/golden/web:1.1.0
  brickyard copy registry.example:5000/golden/web:1.1.0 web:1.1.0

The destination tag is immutable: copying other content onto it fails.

A brickyard artifact copied into the home store is recorded in its catalog
(as catalog rebuild would), so resolve, verify and fetch find it; its
parents must be recorded first. With --key, its signatures that verify
with the key are recorded too.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			src, err := e.parseEndpoint(ctx, argv[0])
			if err != nil {
				return err
			}
			dst, err := e.parseEndpoint(ctx, argv[1])
			if err != nil {
				return err
			}
			if src.tag != dst.tag {
				return usageError{fmt.Errorf("copy keeps the tag: %s and %s differ", src.tag, dst.tag)}
			}
			desc, err := registry.Copy(ctx, src.store, src.repo, dst.store, dst.repo, dst.tag,
				registry.WithProgress(e.blobProgress()), registry.WithMerge(mergeSignatures))
			if err != nil {
				return err
			}
			var recorded string
			if dst.home {
				if recorded, err = e.recordCopied(ctx, dst.repo, dst.tag, keys); err != nil {
					return fmt.Errorf("copied %s:%s to %s:%s, but not recorded in the catalog (copy it again once mended): %w", src.where, src.tag, dst.where, dst.tag, err)
				}
			}
			if e.json {
				out := map[string]string{"digest": desc.Digest.String(), "from": src.where, "to": dst.where, "tag": dst.tag}
				if recorded != "" {
					out["recorded"] = recorded
				}
				return e.printJSON(out)
			}
			fmt.Fprintf(e.out, "copied %s:%s %s to %s:%s\n", src.where, src.tag, desc.Digest, dst.where, dst.tag)
			if recorded != "" {
				fmt.Fprintf(e.out, "recorded %s in the catalog\n", recorded)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "when copying into the home store, record the signatures that verify with this public key (repeatable)")
	return cmd
}

// recordCopied records what a copy brought into the home store's
// repository repo under tag in the catalog, the way `catalog rebuild` does
// (it is the same code), so that resolve, verify and fetch find it: a
// brickyard artifact under a version tag, with the signatures that verify
// with keys. Its parents must be in the catalog already (copy them first).
// It returns the artifact's NAME@VERSION, or "" for content that is not a
// brickyard artifact, such as a plain container image.
func (e *env) recordCopied(ctx context.Context, repo, tag string, keys []string) (string, error) {
	v, err := artifact.VersionOfTag(tag)
	if err != nil {
		fmt.Fprintf(e.err, "not recorded in the catalog: %s:%s: not a version tag\n", repo, tag)
		return "", nil
	}
	if err := e.ensureLogKey(); err != nil {
		return "", err
	}
	var finder catalog.SignatureFinder
	if len(keys) > 0 {
		kv, err := loadVerifier(keys, "")
		if err != nil {
			return "", err
		}
		finder = sign.StoreVerifier{Store: e.store, Verifier: kv}
	}
	rep, err := catalog.Rebuild(ctx, e.cat, oneTag{Store: e.store, repo: repo, tag: tag}, "oci-layout", finder)
	if err != nil {
		return "", err
	}
	for _, why := range rep.Skipped {
		fmt.Fprintln(e.err, "not recorded in the catalog:", why)
	}
	if rep.Artifacts == 0 {
		return "", nil
	}
	return repo + "@" + v.String(), nil
}

// oneTag is the home store seen as holding only repo:tag, so that
// catalog.Rebuild records just what a copy brought in.
type oneTag struct {
	*layout.Store
	repo, tag string
}

func (o oneTag) Repositories(context.Context) ([]string, error) { return []string{o.repo}, nil }
func (o oneTag) Tags(context.Context, string) ([]string, error) { return []string{o.tag}, nil }

// mergeSignatures adds the signatures a copy brings to those the
// destination already has under a cosign tag (sign.MergeSignatures).
func mergeSignatures(ctx context.Context, dst registry.CopyTarget, repo, tag string, incoming ocispec.Descriptor) error {
	return sign.MergeSignatures(ctx, dst, repo, tag, incoming)
}
