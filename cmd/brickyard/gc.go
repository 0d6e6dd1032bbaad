package main

import (
	"fmt"

	"github.com/brickyard/brickyard/registry/layout"
	"github.com/spf13/cobra"
)

func newGCCmd(e *env) *cobra.Command {
	var o layout.GCOptions
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove the home store's stale ingest files and the blobs no tag reaches",
		Long: `Collect the home store's garbage: the ingest files a killed publish or copy
left (those no live process holds, older than --ingest-grace), then the
blobs that no tag reaches, through manifests, indexes, subjects,
signatures, attestations and referrers (older than --grace). It is safe
while other brickyard commands publish or copy into the store: a blob they
have just written or found present is younger than the grace period, and
the collection lock keeps them from tagging a manifest whose blobs it is
removing. --dry-run only reports.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			if o.Grace == 0 {
				o.Grace = -1 // 0 means the default to the library; here it means none
			}
			if o.IngestGrace == 0 {
				o.IngestGrace = -1
			}
			rep, err := e.c.GC(cmd.Context(), o)
			if e.json {
				if jerr := e.printJSON(rep); jerr != nil {
					return jerr
				}
			} else {
				verb := "removed"
				if o.DryRun {
					verb = "would remove"
				}
				fmt.Fprintf(e.out, "%s %d unreachable blobs (%d bytes) and %d stale ingest files (%d bytes) in %d repositories; %d blobs reachable, %d unreachable kept for the grace period\n",
					verb, len(rep.Removed), rep.RemovedBytes, rep.Ingests, rep.IngestBytes, rep.Repositories, rep.Reachable, rep.Young)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&o.Grace, "grace", layout.DefaultGCGrace, "keep unreachable blobs written or used more recently than this (0: none)")
	cmd.Flags().DurationVar(&o.IngestGrace, "ingest-grace", layout.DefaultIngestGrace, "keep unheld ingest files modified more recently than this (0: none)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "report what would be removed, remove nothing")
	return cmd
}
