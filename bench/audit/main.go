// Command audit is the AWS audit benchmark (issue 23): brickyard's audit
// of N AMIs spread over R regions in moto, behind the ec2test proxy (pages
// of 1000, calls counted by action), against the floor of listing the
// same images with bare DescribeImages in the same run. It prints the wall
// times, their ratio, and the calls by action: calls grow with pages and
// regions, except DescribeImageAttribute (launchPermission) and
// DescribeSnapshotAttribute (createVolumePermission), which EC2 answers
// for one resource per call.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/audit"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
	"github.com/opencontainers/go-digest"
)

func main() {
	images := flag.Int("images", 10000, "AMIs in all, spread evenly over the regions")
	nRegions := flag.Int("regions", 4, "regions (1–4)")
	concurrency := flag.Int("concurrency", 8, "per-image calls in flight per region")
	flag.Parse()
	regions := []string{"eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"}[:max(1, min(4, *nRegions))]
	if err := run(*images, regions, *concurrency); err != nil {
		log.Fatal(err)
	}
}

func run(total int, regions []string, concurrency int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "brickyard-bench-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// moto seeds every region with the same AMIs: N/R per region, N in all.
	// 1% public, the rest private; half are known to the catalog.
	perRegion := total / len(regions)
	type seed struct {
		ID           string `json:"ami_id"`
		Name         string `json:"name"`
		Owner        string `json:"owner_id"`
		Public       bool   `json:"public"`
		Architecture string `json:"architecture"`
	}
	var seeds []seed
	for i := range perRegion {
		seeds = append(seeds, seed{ID: fmt.Sprintf("ami-%017x", i+1), Name: fmt.Sprintf("app%d-1.0.%d", i%50, i), Owner: ec2test.Account, Public: i%100 == 0, Architecture: "x86_64"})
	}
	seeds = append(seeds, seed{ID: "ami-0badc0ffee0000001", Name: "app2-9.9.9", Owner: "999999999999", Public: true, Architecture: "x86_64"})
	b, _ := json.Marshal(seeds)
	seedPath := filepath.Join(dir, "amis.json")
	if err := os.WriteFile(seedPath, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("starting moto with %d AMIs in each of %d regions (%d in all)...\n", perRegion, len(regions), perRegion*len(regions))
	m, err := ec2test.StartMoto(ctx, ec2test.MotoOptions{AMIsPath: seedPath, LogPath: filepath.Join(dir, "moto.log")})
	if err != nil {
		return err
	}
	defer m.Close()
	p, err := ec2test.NewProxy(m.URL)
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := ec2.New(ctx, ec2.WithRegions(regions...), ec2.WithEndpoint(p.URL),
		ec2.WithCredentials(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		return err
	}
	// Warm up: moto builds each region's AMIs and snapshots on first use.
	t0 := time.Now()
	var snaps []ec2.Image
	for _, r := range regions {
		ims, err := c.Images(ctx, r, ec2.ImageQuery{})
		if err != nil {
			return err
		}
		snaps = append(snaps, ims...)
	}
	fmt.Printf("moto ready in %s\n", time.Since(t0).Round(time.Millisecond))

	ix := &cloud.Index{}
	for i, im := range snaps {
		if i%2 == 1 || im.Region != regions[0] {
			continue
		}
		images := map[string]string{}
		for _, r := range regions {
			images[r] = im.ID
		}
		ix.Add(cloud.Known{
			Record: catalog.Record{Name: strings.SplitN(im.Name, "-", 2)[0], Kind: artifact.KindMachineImage, Version: semver.MustParse(fmt.Sprintf("1.0.%d", i)),
				Digest: digest.FromString(im.ID), Signatures: []catalog.Signature{{KeyID: "k"}}},
			Image: &artifact.MachineImage{Provider: "aws", Owner: ec2test.Account, Images: images, ImageName: im.Name},
		})
	}

	// Floor: the bare listing, regions in parallel as the audit does.
	p.ResetCalls()
	t0 = time.Now()
	var wg sync.WaitGroup
	var listed [4]int
	var lerr error
	var mu sync.Mutex
	for i, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			err := c.EachImage(ctx, r, ec2.ImageQuery{}, func(ec2.Image) error { n++; return nil })
			mu.Lock()
			listed[i], lerr = n, errors(lerr, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	floor := time.Since(t0)
	if lerr != nil {
		return lerr
	}
	floorCalls := p.Calls()

	p.ResetCalls()
	t0 = time.Now()
	rep, err := audit.AWS(ctx, c, ix, audit.AWSOptions{Regions: regions, Concurrency: concurrency})
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	calls := p.Calls()

	byRule := map[string]int{}
	for _, f := range rep.Findings {
		byRule[f.Rule]++
	}
	n := listed[0] + listed[1] + listed[2] + listed[3]
	fmt.Printf("\naudit of %d AMIs in %d regions (pages of 1000, %d per-image calls in flight per region)\n", n, len(regions), concurrency)
	fmt.Printf("  bare DescribeImages listing (floor): %8s  %d calls\n", floor.Round(time.Millisecond), floorCalls["DescribeImages"])
	fmt.Printf("  brickyard audit aws:                 %8s  %d calls  (%.1f× the floor's time)\n", wall.Round(time.Millisecond), sum(calls), float64(wall)/float64(floor))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\n  ACTION\tCALLS\tPER IMAGE\tGROWS WITH")
	for _, a := range slices.Sorted(maps.Keys(calls)) {
		grows := "pages × regions"
		switch a {
		case "DescribeImageAttribute":
			grows = "images (EC2 has no batch launchPermission read)"
		case "DescribeSnapshotAttribute":
			grows = "snapshots (EC2 has no batch createVolumePermission read)"
		case "GetImageBlockPublicAccessState", "DescribeLaunchTemplates", "GetCallerIdentity":
			grows = "regions"
		case "DescribeLaunchTemplateVersions":
			grows = "launch templates"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%.4f\t%s\n", a, calls[a], float64(calls[a])/float64(n), grows)
	}
	tw.Flush()
	fmt.Printf("\n  findings by rule: %v\n", byRule)
	return nil
}

func errors(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func sum(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}
