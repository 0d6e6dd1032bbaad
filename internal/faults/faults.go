// Package faults lets the crash tests stop a real brickyard process at a
// named step of a write sequence, or make a step fail, so that they can
// kill it (SIGKILL) exactly between two writes and check that the next run
// completes what it left. It is driven by environment variables and does
// nothing when they are unset:
//
//	BRICKYARD_TEST_PAUSE=STEP       at STEP, create the file named by
//	BRICKYARD_TEST_PAUSE_FILE=PATH  PATH (holding the step's name) and
//	                                block for ever, for the test to kill
//	BRICKYARD_TEST_FAIL=STEP        Fail(STEP) returns an error
//
// The steps are named after the write just done: "ingest" (a blob is
// written to its temporary ingest file, not yet committed), "blob" (a blob
// is committed), "manifest", "tag", "record" (the catalog record),
// "signature" (the signature is in the store, not yet in the catalog),
// "signature-recorded" and "checkpoint" (Fail only: signing the event log
// checkpoint).
package faults

import (
	"fmt"
	"os"
	"time"
)

// Point blocks for ever if BRICKYARD_TEST_PAUSE names step, after creating
// the marker file BRICKYARD_TEST_PAUSE_FILE, for the test to kill the
// process there. It returns at once otherwise.
func Point(step string) {
	if os.Getenv("BRICKYARD_TEST_PAUSE") != step {
		return
	}
	if p := os.Getenv("BRICKYARD_TEST_PAUSE_FILE"); p != "" {
		_ = os.WriteFile(p, []byte(step), 0o644)
	}
	for {
		// Sleep, not select{}: with every goroutine blocked the runtime
		// would end the process itself ("all goroutines are asleep").
		time.Sleep(time.Hour)
	}
}

// Fail returns an error naming step if BRICKYARD_TEST_FAIL names it, nil
// otherwise.
func Fail(step string) error {
	if os.Getenv("BRICKYARD_TEST_FAIL") == step {
		return fmt.Errorf("injected fault at step %q (BRICKYARD_TEST_FAIL)", step)
	}
	return nil
}
