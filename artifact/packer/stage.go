package packer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Stage records build b of a version made of the builds named in expected
// (nil or empty: b alone) in dir, and says whether b completes the set.
//
// Packer runs the post-processors of a template's builds in separate plugin
// processes, in parallel, each seeing only its own build. To make them one
// version, each one stages its build in a directory named after the
// version and the run (runID, e.g. $PACKER_RUN_UUID), then lists the
// directory: the one that finds every expected build staged, and claims the
// publish first (an exclusive create), gets last == true and the staged
// builds sorted by name; the others get last == false and stop. A staged
// file is written whole and renamed into place, so the last build to stage
// always sees all the others, with no lock held across processes.
//
// Errors: b not among expected (ErrUnexpectedBuild), and the file system's.
func Stage(dir, runID string, expected []string, b Build) (builds []Build, last bool, err error) {
	if len(expected) == 0 {
		return []Build{b}, true, nil
	}
	want := map[string]bool{}
	for _, n := range expected {
		want[n] = true
	}
	if !want[b.Name] {
		return nil, false, fmt.Errorf("build %q is not among the builds %q of this version: %w", b.Name, expected, ErrUnexpectedBuild)
	}
	run := filepath.Join(dir, safeName(runID))
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, false, err
	}
	body, err := json.Marshal(staged{Build: b, BuilderID: b.BuilderID})
	if err != nil {
		return nil, false, err
	}
	file := filepath.Join(run, safeName(b.Name)+".json")
	tmp, err := os.CreateTemp(run, ".stage-*")
	if err != nil {
		return nil, false, err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, false, err
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return nil, false, err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		os.Remove(tmp.Name())
		return nil, false, err
	}
	for n := range want {
		raw, err := os.ReadFile(filepath.Join(run, safeName(n)+".json"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil // a later build completes the set
		}
		if err != nil {
			return nil, false, err
		}
		var sb staged
		if err := json.Unmarshal(raw, &sb); err != nil {
			return nil, false, fmt.Errorf("staged build %s: %w", n, err)
		}
		sb.Build.BuilderID = sb.BuilderID
		builds = append(builds, sb.Build)
	}
	claim, err := os.OpenFile(filepath.Join(run, ".publishing"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, false, nil // another build saw the full set first
	}
	if err != nil {
		return nil, false, err
	}
	claim.Close()
	sort.Slice(builds, func(i, j int) bool { return builds[i].Name < builds[j].Name })
	return builds, true, nil
}

// staged is a build as staged: Build leaves its builder id out of the
// manifest post-processor's format.
type staged struct {
	Build
	BuilderID string `json:"builder_id"`
}

// ErrUnexpectedBuild: a build stages itself for a version whose build list
// does not name it.
var ErrUnexpectedBuild = errors.New("build not expected for this version")

// safeName maps a build name or run id, which may hold any character, to a
// file name.
func safeName(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
