package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/registrytest"
)

// racers publishes n machine-image artifacts web 1.0.0 of different
// content, one per layout store, and returns the stores and digests.
func racers(t *testing.T, n int) ([]*layout.Store, []string) {
	t.Helper()
	ctx := context.Background()
	v, _ := artifact.ParseVersion("1.0.0")
	var srcs []*layout.Store
	var digests []string
	for i := range n {
		src, err := layout.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		pub, err := registry.Publish(ctx, src, &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v,
			MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": fmt.Sprintf("ami-%d", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
		digests = append(digests, pub.Descriptor.Digest.String())
	}
	return srcs, digests
}

// TestConcurrentCopiesOneWinner races 2, then 8, copies of different
// content to one version tag of a real distribution registry, each through
// its own Store (its own connections, as separate processes would), 50
// rounds each: every round exactly one copy succeeds, the tag holds its
// digest, and every other copy fails with ErrImmutableTag naming both
// digests. The two run side by side, which loads the machine more.
func TestConcurrentCopiesOneWinner(t *testing.T) {
	host := registrytest.StartDistribution(t)
	ctx := context.Background()
	for _, n := range []int{2, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			raceCopies(t, ctx, host, n)
		})
	}
}

func raceCopies(t *testing.T, ctx context.Context, host string, n int) {
	srcs, digests := racers(t, n)
	rounds := 50
	start := time.Now()
	for round := range rounds {
		repo := fmt.Sprintf("race%d/r%d", n, round)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			dst, err := New(host)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = registry.Copy(ctx, srcs[i], "web", dst, "1.0.0", registry.ToRepository(repo))
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Errorf("%d copies, round %d: copies %d and %d both succeeded", n, round, won, i)
			case err == nil:
				won = i
			case !errors.Is(err, registry.ErrImmutableTag):
				t.Errorf("%d copies, round %d: copy %d: %v", n, round, i, err)
			case strings.Count(err.Error(), "sha256:") < 2 || !strings.Contains(err.Error(), digests[i]):
				t.Errorf("%d copies, round %d: copy %d's error does not name both digests: %v", n, round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("%d copies, round %d: no copy succeeded: %v", n, round, errs)
		}
		got, err := store(t, host).Resolve(ctx, repo, "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest.String() != digests[won] {
			t.Errorf("%d copies, round %d: the tag holds %s, the copy that succeeded was %s", n, round, got.Digest, digests[won])
		}
	}
	t.Logf("%d concurrent copies: %d rounds, exactly one success each, %v per round", n, rounds, time.Since(start)/time.Duration(rounds))
}
