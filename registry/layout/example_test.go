package layout_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/brickyard/brickyard/registry/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blobs go in streaming and come out verified.
func ExampleStore_PushBlob() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "layout-example")
	defer os.RemoveAll(dir)
	st, _ := layout.New(dir)

	d, err := st.PushBlob(ctx, "web", ocispec.Descriptor{MediaType: "text/plain"}, strings.NewReader("hello"))
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Digest, d.Size)
	_, err = os.Stat(dir + "/web/blobs/sha256/" + d.Digest.Encoded())
	fmt.Println("stored as an OCI layout blob:", err == nil)
	// Output:
	// sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 5
	// stored as an OCI layout blob: true
}
