package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
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
	ep.store, ep.where = e.store, "home store "+ep.repo
	return ep, nil
}

func newCopyCmd(e *env) *cobra.Command {
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

The destination tag is immutable: copying other content onto it fails.`,
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
			if e.json {
				return e.printJSON(map[string]string{"digest": desc.Digest.String(), "from": src.where, "to": dst.where, "tag": dst.tag})
			}
			fmt.Fprintf(e.out, "copied %s:%s %s to %s:%s\n", src.where, src.tag, desc.Digest, dst.where, dst.tag)
			return nil
		},
	}
	return cmd
}

// mergeSignatures adds the signatures a copy brings to those the
// destination already has under a cosign tag (sign.MergeSignatures).
func mergeSignatures(ctx context.Context, dst registry.CopyTarget, repo, tag string, incoming ocispec.Descriptor) error {
	return sign.MergeSignatures(ctx, dst, repo, tag, incoming)
}
