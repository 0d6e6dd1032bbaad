package remote

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestReferrersPages: a registry that pages its referrers answer (Link,
// rel="next", as the distribution spec allows) has every page read; a Link
// header of another form is an error naming it.
func TestReferrersPages(t *testing.T) {
	subject := digest.FromString("the image")
	page := func(n int) ocispec.Index {
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example", Digest: digest.FromString(string(rune('a' + n))), Size: 2}}}
		idx.SchemaVersion = 2
		return idx
	}
	badLink := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		if r.URL.Path != "/v2/app/referrers/"+subject.String() {
			http.NotFound(w, r)
			return
		}
		n := len(r.URL.Query().Get("last"))
		switch {
		case badLink:
			w.Header().Set("Link", "/v2/app/referrers/"+subject.String()+"?last=x")
		case n < 2:
			w.Header().Set("Link", `<`+r.URL.Path+`?last=`+strings.Repeat("x", n+1)+`>; rel="next"`)
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		json.NewEncoder(w).Encode(page(n))
	}))
	t.Cleanup(srv.Close)
	s, err := New(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	refs, supported, err := s.Referrers(context.Background(), "app", subject)
	if err != nil || !supported || len(refs) != 3 {
		t.Fatalf("referrers over 3 pages = %d, %v, %v; want 3, true, nil", len(refs), supported, err)
	}
	for i, r := range refs {
		if r.Digest != page(i).Manifests[0].Digest {
			t.Errorf("referrer %d = %s, want page %d's", i, r.Digest, i)
		}
	}
	badLink = true
	if _, _, err := s.Referrers(context.Background(), "app", subject); err == nil || !strings.Contains(err.Error(), "Link header") || !strings.Contains(err.Error(), "app") {
		t.Errorf("referrers with a malformed Link header: %v, want an error naming the header and the repository", err)
	}
}
