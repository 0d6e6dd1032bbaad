package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	_ registry.Store          = (*Store)(nil)
	_ registry.ReferrerLister = (*Store)(nil)
)

// Store is a registry.Store over one OCI distribution registry (per the OCI
// distribution spec v1.1). Repository names given to its methods are joined
// to the store's namespace: New("127.0.0.1:5000/team") stores "web" at
// 127.0.0.1:5000/team/web.
type Store struct {
	reg       name.Registry
	namespace string
	keychain  authn.Keychain
	auth      authn.Authenticator
	base      http.RoundTripper // the caller's transport, no retries
	retry     Retry
	retrying  http.RoundTripper // base with retries, for every replayable request
	// streamChunk is the most one PATCH streamed from a seekable source
	// carries (streamBlob); defaultStreamChunk but in tests.
	streamChunk int64
	tagSettle   time.Duration // see WithTagSettle

	mu         sync.Mutex
	transports map[string]http.RoundTripper // repository → authenticated transport
	seen       map[digest.Digest]string     // blob → a repository of this registry known to hold it, for mounts
}

// Option configures a Store.
type Option func(*options) error

type options struct {
	insecure  bool
	auth      authn.Authenticator
	keychain  authn.Keychain
	transport http.RoundTripper
	retry     Retry
	settle    time.Duration
}

var errInvalidRetry = errors.New("remote.WithRetry: want Attempts ≥ 1 and 0 ≤ MinWait ≤ MaxWait")

// WithInsecure allows plain HTTP. Loopback registries (127.0.0.1, ::1,
// localhost) always may use plain HTTP.
func WithInsecure() Option { return func(o *options) error { o.insecure = true; return nil } }

// WithAuth uses explicit credentials instead of the docker config.json
// keychain (authn.DefaultKeychain, which also runs credential helpers).
func WithAuth(a authn.Authenticator) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("remote.WithAuth: nil authenticator")
		}
		o.auth = a
		return nil
	}
}

// WithKeychain resolves credentials per repository through k.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("remote.WithKeychain: nil keychain")
		}
		o.keychain = k
		return nil
	}
}

// WithTransport sets the base HTTP transport, e.g. for custom TLS roots.
// Retries and authentication are layered on top of it.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error { o.transport = t; return nil }
}

// WithTagSettle sets how long Tag waits between writing a new immutable
// tag and reading it back to see whether a concurrent writer won it
// (default DefaultTagSettle). It must exceed the longest time a writer
// takes from reading the tag absent to its PUT landing, in every process
// that may race for the tag: the longer, the safer, the slower a new tag.
func WithTagSettle(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("remote.WithTagSettle: negative duration")
		}
		o.settle = d
		return nil
	}
}

// New returns a Store for the registry host (and optional namespace) in
// target, e.g. "registry.example:5000" or "127.0.0.1:5000/team". Credentials
// come from the docker config.json and credential helpers unless WithAuth or
// WithKeychain say otherwise. It returns an error wrapping
// registry.ErrInvalidRef if target does not parse.
func New(target string, opts ...Option) (*Store, error) {
	o := options{keychain: authn.DefaultKeychain, transport: ggcr.DefaultTransport, retry: DefaultRetry, settle: DefaultTagSettle}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	host, ns, _ := strings.Cut(strings.TrimSuffix(target, "/"), "/")
	nameOpts := []name.Option{name.StrictValidation}
	if o.insecure || isLoopback(host) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w: %v", target, registry.ErrInvalidRef, err)
	}
	if ns != "" {
		if err := artifact.ValidateName(ns); err != nil {
			return nil, fmt.Errorf("registry %q: namespace: %w", target, err)
		}
	}
	s := &Store{reg: reg, namespace: ns, base: o.transport, retry: o.retry, retrying: o.retry.retrying(o.transport), streamChunk: defaultStreamChunk, tagSettle: o.settle,
		transports: map[string]http.RoundTripper{}, seen: map[digest.Digest]string{}}
	if o.auth != nil {
		s.auth = o.auth
	} else {
		s.keychain = o.keychain
	}
	return s, nil
}

func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Identity returns the full name of repository repo, e.g.
// "127.0.0.1:5000/team/web": the docker-reference cosign signs.
func (s *Store) Identity(repo string) string { return s.String() + "/" + repo }

// String returns the registry and namespace, e.g. "127.0.0.1:5000/team".
func (s *Store) String() string {
	if s.namespace == "" {
		return s.reg.Name()
	}
	return s.reg.Name() + "/" + s.namespace
}

func (s *Store) repository(repo string) (name.Repository, error) {
	if err := artifact.ValidateName(repo); err != nil {
		return name.Repository{}, fmt.Errorf("%s: %w", s, err)
	}
	full := repo
	if s.namespace != "" {
		full = s.namespace + "/" + repo
	}
	return s.reg.Repo(full), nil
}

func (s *Store) authOption(r name.Repository) ggcr.Option {
	if s.auth != nil {
		return ggcr.WithAuth(s.auth)
	}
	return ggcr.WithAuthFromKeychain(s.keychain)
}

// remoteOptions are go-containerregistry's options for r: our retrying
// transport, with go-containerregistry's own retries (three tries, no
// Retry-After) turned off so that one budget governs.
func (s *Store) remoteOptions(ctx context.Context, r name.Repository) []ggcr.Option {
	return []ggcr.Option{ggcr.WithContext(ctx), ggcr.WithTransport(s.retrying), s.authOption(r),
		ggcr.WithRetryStatusCodes(), ggcr.WithRetryPredicate(func(error) bool { return false })}
}

// client returns an HTTP client authenticated for push and pull on r, for
// the blob calls go-containerregistry has no API for (a HEAD, an upload of
// a blob whose digest is known only at the end, a resumed download). Its
// requests are retried within the budget, but those sent withoutRetries.
func (s *Store) client(ctx context.Context, r name.Repository) (*http.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.transports[r.String()]; ok {
		return &http.Client{Transport: t}, nil
	}
	auth := s.auth
	if auth == nil {
		var err error
		if auth, err = s.keychain.Resolve(r); err != nil {
			return nil, fmt.Errorf("%s: credentials: %w", r, err)
		}
	}
	t, err := transport.NewWithContext(ctx, r.Registry, auth, s.retrying, []string{r.Scope(transport.PushScope)})
	if err != nil {
		return nil, s.wrap(r, "authenticate", err)
	}
	s.transports[r.String()] = t
	return &http.Client{Transport: t}, nil
}

func (s *Store) url(r name.Repository, path string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s", r.Scheme(), r.RegistryStr(), r.RepositoryStr(), path)
}

// wrap maps a registry error to brickyard's sentinels and names the
// registry, repository and step.
func (s *Store) wrap(r name.Repository, step string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%s: %s: %w (%v)", r, step, registry.ErrNotFound, err)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s: %s: %w (%w): log in with `docker login %s` or set credentials in ~/.docker/config.json", r, step, authError(te.StatusCode), err, r.RegistryStr())
		}
		for _, d := range te.Errors {
			if d.Code == transport.DigestInvalidErrorCode || d.Code == transport.SizeInvalidErrorCode {
				return fmt.Errorf("%s: %s: the registry refused the content: %w (%v)", r, step, registry.ErrDigestMismatch, err)
			}
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%s: %s: %w (%v)", r, step, registry.ErrNotFound, err)
			}
		}
	}
	return fmt.Errorf("%s: %s: %w", r, step, err)
}

// authError is the sentinel for a 401 or 403.
func authError(status int) error {
	if status == http.StatusUnauthorized {
		return registry.ErrUnauthorized
	}
	return registry.ErrDenied
}

func isManifest(mediaType string) bool { return artifact.IsManifestMediaType(mediaType) }

// Fetch implements registry.Fetcher. Manifests are read whole (at most
// artifact.MaxManifestSize bytes) and checked against desc; blobs stream and
// are checked at EOF.
func (s *Store) Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error) {
	r, err := s.repository(repo)
	if err != nil {
		return nil, err
	}
	if isManifest(desc.MediaType) {
		b, err := s.fetchManifest(ctx, r, desc.Digest.String())
		if err != nil {
			return nil, err
		}
		if digest.FromBytes(b) != desc.Digest || (desc.Size > 0 && int64(len(b)) != desc.Size) {
			return nil, fmt.Errorf("%s: manifest %s: %w", r, desc.Digest, registry.ErrDigestMismatch)
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, err
	}
	rr := &resumingReader{ctx: ctx, s: s, r: r, c: c, url: s.url(r, "blobs/"+desc.Digest.String()), size: desc.Size}
	if err := rr.open(); err != nil {
		return nil, err
	}
	return newVerifier(rr, desc, r.String()), nil
}

// resumingReader reads a blob, and when the connection breaks in the middle
// asks for the rest with a Range request (distribution spec §fetch-blob-
// part), so a dropped connection costs nothing already read. It gives up
// after the retry budget's number of failures in a row without progress.
type resumingReader struct {
	ctx      context.Context
	s        *Store
	r        name.Repository
	c        *http.Client
	url      string
	size     int64 // from the descriptor: a closed Range, which every registry understands
	body     io.ReadCloser
	off      int64
	failures int
}

func (rr *resumingReader) open() error {
	req, err := http.NewRequestWithContext(rr.ctx, http.MethodGet, rr.url, nil)
	if err != nil {
		return err
	}
	want := http.StatusOK
	if rr.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", rr.off, rr.size-1))
		want = http.StatusPartialContent
	}
	step := fmt.Sprintf("fetch blob %s from byte %d", path.Base(rr.url), rr.off)
	resp, err := rr.c.Do(req)
	if err != nil {
		return rr.s.wrap(rr.r, step, err)
	}
	if err := transport.CheckError(resp, want); err != nil {
		resp.Body.Close()
		return rr.s.wrap(rr.r, step, err)
	}
	if rr.off > 0 && !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", rr.off)) {
		resp.Body.Close()
		return fmt.Errorf("%s: %s: the registry answered Content-Range %q", rr.r, step, resp.Header.Get("Content-Range"))
	}
	rr.body = resp.Body
	return nil
}

func (rr *resumingReader) Read(b []byte) (int, error) {
	for {
		if rr.body == nil && rr.off == rr.size && rr.size > 0 {
			return 0, io.EOF // sought to the end
		}
		if rr.body == nil {
			if rr.failures > 0 {
				if err := ocistore.Sleep(rr.ctx, rr.s.retry.wait(rr.failures-1, nil)); err != nil {
					return 0, err
				}
			}
			if err := rr.open(); err != nil {
				return 0, err
			}
		}
		n, err := rr.body.Read(b)
		rr.off += int64(n)
		if n > 0 {
			rr.failures = 0
		}
		if err == nil || errors.Is(err, io.EOF) || rr.ctx.Err() != nil {
			return n, err
		}
		rr.body.Close()
		rr.body = nil
		rr.failures++
		if rr.failures >= rr.s.retry.Attempts {
			return n, fmt.Errorf("%s: fetch blob %s: connection broke at byte %d, %d times in a row: %w", rr.r, path.Base(rr.url), rr.off, rr.failures, err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Seek implements io.Seeker from the start or the current position: the
// next Read asks for the blob from there (a Range request, or the whole
// blob from offset 0). A push that resumes after a dropped connection
// seeks its source back to where the registry it pushes to stands.
func (rr *resumingReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += rr.off
	default:
		return rr.off, fmt.Errorf("%s: blob %s: seek from the end: %w", rr.r, path.Base(rr.url), errors.ErrUnsupported)
	}
	if offset < 0 || offset > rr.size {
		return rr.off, fmt.Errorf("%s: blob %s: seek to %d, outside its %d bytes", rr.r, path.Base(rr.url), offset, rr.size)
	}
	if offset != rr.off {
		if rr.body != nil {
			rr.body.Close()
			rr.body = nil
		}
		rr.off, rr.failures = offset, 0
	}
	return offset, nil
}

func (rr *resumingReader) Close() error {
	if rr.body != nil {
		return rr.body.Close()
	}
	return nil
}

// fetchManifest GETs the manifest ref (a digest or a tag) of r, reading at
// most artifact.MaxManifestSize bytes, and refuses an answer that is not a
// manifest (Content-Type), is too large, whose bytes do not match the
// digest asked for or the registry's own Docker-Content-Digest, or that is
// not valid OCI as its Content-Type (artifact.ParseOCI).
func (s *Store) fetchManifest(ctx context.Context, r name.Repository, ref string) ([]byte, error) {
	step := "fetch manifest " + ref
	byDigest := strings.Contains(ref, ":")
	if byDigest {
		if _, err := digest.Parse(ref); err != nil {
			return nil, fmt.Errorf("%s: %q: %w: %v", r, ref, registry.ErrInvalidRef, err)
		}
	} else if err := registry.ValidateTag(ref); err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(r, "manifests/"+ref), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", strings.Join(manifestAccept, ","))
	resp, err := c.Do(req)
	if err != nil {
		return nil, s.wrap(r, step, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, s.wrap(r, step, err)
	}
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	if mt = strings.TrimSpace(mt); !isManifest(mt) {
		return nil, fmt.Errorf("%s: %s: the registry answered Content-Type %q, not a manifest or index media type brickyard reads: %w", r, step, mt, artifact.ErrInvalidOCI)
	}
	if resp.ContentLength > artifact.MaxManifestSize {
		return nil, fmt.Errorf("%s: %s: %d bytes: %w (limit %d)", r, step, resp.ContentLength, registry.ErrTooLarge, artifact.MaxManifestSize)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, artifact.MaxManifestSize+1))
	if err != nil {
		return nil, s.wrap(r, step, err)
	}
	if len(b) > artifact.MaxManifestSize {
		return nil, fmt.Errorf("%s: %s: over %d bytes: %w", r, step, artifact.MaxManifestSize, registry.ErrTooLarge)
	}
	got := digest.FromBytes(b)
	if byDigest && got.String() != ref {
		return nil, fmt.Errorf("%s: %s: the registry sent content with digest %s: %w", r, step, got, registry.ErrDigestMismatch)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != got.String() {
		return nil, fmt.Errorf("%s: %s: Docker-Content-Digest %s, but the content has digest %s: %w", r, step, h, got, registry.ErrDigestMismatch)
	}
	// The content must be what its Content-Type says (CVE-2021-41190).
	if _, err := artifact.ParseOCI(mt, b); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", r, step, err)
	}
	return b, nil
}

// Exists implements registry.Exister with a HEAD request. If desc has a
// size (not 0) and the registry gives another (Content-Length), it returns
// an error wrapping registry.ErrDigestMismatch.
func (s *Store) Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error) {
	r, err := s.repository(repo)
	if err != nil {
		return false, err
	}
	ok, n, err := s.head(ctx, r, desc)
	if ok && desc.Size > 0 && n >= 0 && n != desc.Size {
		return false, fmt.Errorf("%s: check %s: the registry holds %d bytes, the descriptor says %d: %w", r, desc.Digest, n, desc.Size, registry.ErrDigestMismatch)
	}
	if ok && !isManifest(desc.MediaType) {
		s.remember(desc.Digest, r)
	}
	return ok, err
}

// head asks whether r holds desc (HEAD on the blob or manifest) and
// returns its size as the registry gives it (Content-Length, -1 if not
// given).
func (s *Store) head(ctx context.Context, r name.Repository, desc ocispec.Descriptor) (bool, int64, error) {
	kind := "blobs/"
	if isManifest(desc.MediaType) {
		kind = "manifests/"
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return false, -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.url(r, kind+desc.Digest.String()), nil)
	if err != nil {
		return false, -1, err
	}
	if kind == "manifests/" {
		req.Header.Set("Accept", strings.Join(manifestAccept, ","))
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, -1, s.wrap(r, "check "+desc.Digest.String(), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, resp.ContentLength, nil
	case http.StatusNotFound:
		return false, -1, nil
	}
	return false, -1, s.wrap(r, "check "+desc.Digest.String(), transport.CheckError(resp, http.StatusOK))
}

var manifestAccept = []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
	string(types.DockerManifestSchema2), string(types.DockerManifestList)}

// PushBlob implements registry.BlobPusher: a blob the registry already has
// (HEAD) is skipped without reading r (with another size than expected's,
// it is an error wrapping registry.ErrDigestMismatch), one it holds in
// another repository this Store pushed to or read from is mounted.
// Otherwise r is read once
// (after a failure, again from where the registry stands), hashed on the
// way unless the digest is known, and uploaded. A source that
// can seek (io.Seeker: a file, a layout or remote blob) is streamed from
// the source in PATCHes of up to 256 MiB and, after a dropped connection,
// sought back to where the registry stands (streamBlob); any other is sent
// in PATCHes of at most uploadChunk bytes held in memory (chunkBlob). Memory
// stays bounded either way. The upload is committed, with the digest
// computed on the way, only if that digest and size are the expected ones;
// an upload that fails is never committed. A commit the registry refuses
// when sent again (its answer was lost) is a success if the registry then
// holds the blob with its size.
func (s *Store) PushBlob(ctx context.Context, repo string, expected ocispec.Descriptor, rd io.Reader) (ocispec.Descriptor, error) {
	r, err := s.repository(repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if expected.Digest != "" {
		if err := expected.Digest.Validate(); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: blob digest %q: %w", r, expected.Digest, registry.ErrInvalidRef)
		}
		if ok, err := s.Exists(ctx, repo, expected); err != nil {
			return ocispec.Descriptor{}, err
		} else if ok {
			return expected, nil
		}
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// A blob this registry holds in another repository is mounted, not
	// uploaded (distribution spec §mounting-a-blob-from-another-repository);
	// a registry that declines answers 202 and the upload goes on.
	loc, mounted, err := s.startUpload(ctx, r, c, s.seenIn(expected.Digest, r), expected.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if mounted {
		s.remember(expected.Digest, r)
		return expected, nil
	}
	// With the digest known, the registry checks it on commit: hashing
	// here would only cost time, and a VerifyingReader source for that
	// digest is asked to skip its own hash (registry.SkipVerifier), so the
	// bytes are hashed once, by the registry. With the digest unknown, it
	// is computed on the way.
	if expected.Digest != "" {
		if vr, ok := rd.(registry.VerifyingReader); ok && vr.Verifies().Digest == expected.Digest {
			if sv, ok := rd.(registry.SkipVerifier); ok {
				sv.SkipVerify()
			}
		}
	}
	// A reader that has Seek may still not seek (a pipe's *os.File, a
	// wrapper of a reader that cannot): asking where it stands tells.
	var off int64
	var sum digest.Digest
	rs, seekable := rd.(io.ReadSeeker)
	var start int64
	if seekable {
		start, err = rs.Seek(0, io.SeekCurrent)
		seekable = err == nil
	}
	if seekable {
		off, sum, loc, err = s.streamBlob(ctx, r, c, loc, expected, rs, start)
	} else {
		off, sum, loc, err = s.chunkBlob(ctx, r, c, loc, expected, rd)
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	got := ocispec.Descriptor{MediaType: expected.MediaType, Digest: expected.Digest, Size: off}
	if expected.Digest == "" {
		got.Digest = sum
	} else if off != expected.Size {
		s.cancelUpload(ctx, r, c, loc)
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob %s: read %d bytes, want %d: %w",
			r, expected.Digest, off, expected.Size, registry.ErrDigestMismatch)
	}
	q := loc.Query()
	q.Set("digest", got.Digest.String())
	loc.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), nil)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp, err := c.Do(req)
	if err == nil {
		err = transport.CheckError(resp, http.StatusCreated)
		resp.Body.Close()
	}
	if err != nil {
		// The commit is retried, and a retry after a connection that
		// dropped once the registry had committed finds the session
		// finished (DIGEST_INVALID, 404): the blob is there, with its size.
		if ok, n, herr := s.head(ctx, r, got); herr == nil && ok && n == got.Size {
			s.remember(got.Digest, r)
			return got, nil
		}
		s.cancelUpload(ctx, r, c, loc)
		return ocispec.Descriptor{}, s.wrap(r, "push blob: commit "+got.Digest.String(), err)
	}
	s.remember(got.Digest, r)
	return got, nil
}

// startUpload opens a blob upload session in r (POST, distribution spec
// §pushing-blobs) and returns its URL. If from names another repository of
// this registry that holds blob d, it asks to mount d from there instead;
// mounted tells whether the registry did.
func (s *Store) startUpload(ctx context.Context, r name.Repository, c *http.Client, from string, d digest.Digest) (loc *url.URL, mounted bool, err error) {
	u := s.url(r, "blobs/uploads/")
	if from != "" {
		u += "?" + url.Values{"mount": {d.String()}, "from": {from}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, false, s.wrap(r, "push blob: start upload", err)
	}
	err = transport.CheckError(resp, http.StatusAccepted, http.StatusCreated)
	resp.Body.Close()
	if err != nil {
		return nil, false, s.wrap(r, "push blob: start upload", err)
	}
	if resp.StatusCode == http.StatusCreated && from != "" {
		return nil, true, nil
	}
	loc, err = location(req.URL, resp)
	if err != nil {
		return nil, false, s.wrap(r, "push blob: start upload", err)
	}
	return loc, false, nil
}

// cancelUpload asks the registry to drop an upload session that will not
// be committed (DELETE on its URL, Docker registry HTTP API v2 "Cancel
// Blob Upload"; distribution answers 204 and deletes what it received), so
// that a failed or restarted push leaves no partial upload behind in the
// registry's storage. It is a courtesy, tried once within 5 s even if ctx
// is done (a push the user interrupted is cleaned up too), and its
// failure is ignored: registries expire abandoned uploads themselves
// (distribution's upload purging), and a session the registry already
// dropped answers 404.
func (s *Store) cancelUpload(ctx context.Context, r name.Repository, c *http.Client, loc *url.URL) {
	if loc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(withoutRetries(context.WithoutCancel(ctx)), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil)
	if err != nil {
		return
	}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
}

// chunkBlob uploads rd, a source that cannot seek, to the upload at loc in
// chunks of at most uploadChunk bytes read into memory (distribution spec
// §pushing-a-blob-in-chunks), so that a dropped connection costs one chunk
// at most. It returns the bytes sent, their digest if expected has none,
// and the upload URL to commit at; once ctx is done, an error wrapping
// ctx.Err(), even while a Read of the source blocks.
func (s *Store) chunkBlob(ctx context.Context, r name.Repository, c *http.Client, loc *url.URL, expected ocispec.Descriptor, rd io.Reader) (_ int64, _ digest.Digest, _ *url.URL, err error) {
	defer func() {
		if err != nil {
			s.cancelUpload(ctx, r, c, loc)
		}
	}()
	h := sha256.New()
	src := rd
	if expected.Digest == "" {
		src = io.TeeReader(rd, h)
	}
	var off int64
	chunks, stop := readChunks(ctx, src, expected.Size)
	defer stop()
	for {
		var ch chunk
		var more bool
		select {
		case ch, more = <-chunks:
		case <-ctx.Done():
			return 0, "", nil, fmt.Errorf("%s: push blob: read source: %w", r, ctx.Err())
		}
		if !more {
			break
		}
		if len(ch.b) > 0 {
			next, err := s.uploadChunk(ctx, r, loc, off, ch.b)
			if err != nil {
				return 0, "", nil, err
			}
			loc = next
			off += int64(len(ch.b))
		}
		ch.done()
		if errors.Is(ch.err, io.EOF) || errors.Is(ch.err, io.ErrUnexpectedEOF) {
			break
		}
		if ch.err != nil {
			return 0, "", nil, fmt.Errorf("%s: push blob: read source: %w", r, ch.err)
		}
	}
	return off, digestOf(h), loc, nil
}

// streamBlob uploads rd, a source that can seek, from its offset start to
// its end, to the upload at loc in PATCHes streamed from the source, with
// no buffer beyond net/http's. With a size (the descriptor's, a hint if
// there is no digest) they carry at most s.streamChunk bytes each, with
// Content-Length and Content-Range (distribution spec
// §pushing-a-blob-in-chunks); without, there is one streamed PATCH of
// unknown length, read to the source's end. A source that turns out
// shorter or longer than the size of a known digest is an error wrapping
// registry.ErrDigestMismatch; for an unknown digest the size is corrected
// and the upload goes on (from byte 0 in a new upload if the source is
// longer). The digest, if unknown, is computed on the way.
//
// After a dropped connection or a retryable answer it asks the registry
// how much of the upload it holds (GET on the upload URL), seeks the
// source there and sends the rest, so that nothing the registry has is
// sent again. A registry that cannot say is sent the rest from where it
// last said it stood, and if it refuses that (it took part of the broken
// PATCH; distribution then cancels the upload) gets a new upload session
// from byte 0. Bytes read again are not hashed again. The retry budget counts
// failures in a row without progress. It returns what the commit needs:
// the size, the digest if expected has none, and the URL.
func (s *Store) streamBlob(ctx context.Context, r name.Repository, c *http.Client, loc *url.URL, expected ocispec.Descriptor, rd io.ReadSeeker, start int64) (_ int64, _ digest.Digest, _ *url.URL, err error) {
	defer func() {
		if err != nil {
			s.cancelUpload(ctx, r, c, loc)
		}
	}()
	var h hash.Hash
	if expected.Digest == "" {
		h = sha256.New()
	}
	size := expected.Size // 0: unknown, stream to the end
	chunk := s.streamChunk
	var off, hashed int64 // bytes the registry holds; bytes hashed
	var best int64        // the most the registry held, over every upload session
	// unsure: the registry could not say where the upload stands after a
	// failure, so off is only where it last said.
	var unsure bool
	attempt := 0
	confirm := func(n int64, next *url.URL) {
		off, loc, unsure = n, next, false
		if n > best {
			best, attempt = n, -1 // progress: the budget starts again
		}
	}
	restart := func() error {
		s.cancelUpload(ctx, r, c, loc)
		next, _, err := s.startUpload(ctx, r, c, "", "")
		if err != nil {
			return err
		}
		loc, off, unsure = next, 0, false
		return nil
	}
	for ; ; attempt++ {
		if size > 0 && off == size {
			// The source must end where its size says.
			more, err := hasMore(rd, start+size)
			if err != nil {
				return 0, "", nil, fmt.Errorf("%s: push blob: read source: %w", r, err)
			}
			if !more {
				break
			}
			if expected.Digest != "" {
				return 0, "", nil, fmt.Errorf("%s: push blob %s: the source has more than the %d bytes its descriptor says: %w",
					r, expected.Digest, expected.Size, registry.ErrDigestMismatch)
			}
			// It is longer than its hint: a new upload streams it all,
			// since a registry need not take a PATCH of unknown length
			// after the first (go-containerregistry's does not).
			if err := restart(); err != nil {
				return 0, "", nil, err
			}
			size = 0
		}
		if pos, err := rd.Seek(start+off, io.SeekStart); err != nil || pos != start+off {
			return 0, "", nil, fmt.Errorf("%s: push blob: seek source to %d: at %d, %v", r, start+off, pos, err)
		}
		sb := &streamBody{r: rd, pos: off, limit: -1, h: h, hashed: &hashed}
		body := newGuardedBody(sb)
		step := fmt.Sprintf("push blob: upload from byte %d", off)
		req, err := http.NewRequestWithContext(withoutRetries(ctx), http.MethodPatch, loc.String(), body)
		if err != nil {
			return 0, "", nil, err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.ContentLength = -1
		if size > 0 {
			end := min(size, off+chunk)
			sb.limit, req.ContentLength = end, end-off
			req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, end-1))
			step = fmt.Sprintf("push blob: upload bytes %d-%d", off, end-1)
		}
		resp, doErr := c.Do(req)
		// The source is read again only once the transport is done with
		// the body (guardedBody).
		<-body.closed
		err = doErr
		status := 0
		if err == nil {
			status = resp.StatusCode
			err = transport.CheckError(resp, http.StatusAccepted, http.StatusNoContent)
			resp.Body.Close()
		}
		if sb.err != nil {
			return 0, "", nil, fmt.Errorf("%s: push blob: read source: %w", r, sb.err)
		}
		if sb.eof && size > 0 && sb.pos < sb.limit {
			if expected.Digest != "" {
				return 0, "", nil, fmt.Errorf("%s: push blob %s: read %d bytes, want %d: %w",
					r, expected.Digest, sb.pos, expected.Size, registry.ErrDigestMismatch)
			}
			// The source is shorter than its hint, so now its size is
			// known: a new upload sends it, not counted as a failure.
			size = sb.pos
			if err := restart(); err != nil {
				return 0, "", nil, err
			}
			attempt--
			continue
		}
		if err == nil {
			// The registry says how much it holds (Range): by the spec
			// all that was sent, but one may take less.
			next, lerr := location(loc, resp)
			if lerr != nil {
				return 0, "", nil, s.wrap(r, step, lerr)
			}
			held := sb.pos
			if n, ok := rangeEnd(resp); ok && n > 0 {
				held = n
			}
			if held > sb.pos {
				return 0, "", nil, fmt.Errorf("%s: %s: the registry holds %d bytes of the upload, more than were sent (%d): %w", r, step, held, sb.pos, registry.ErrDigestMismatch)
			}
			if held > off || (sb.eof && held == sb.pos) {
				confirm(held, next)
				if size == 0 && sb.eof && held == sb.pos {
					break // a stream of unknown length, all sent
				}
				continue
			}
			err = fmt.Errorf("the registry answered %d but holds %d bytes of the upload, none of the %d sent", status, held, sb.pos-off)
		}
		if ctx.Err() != nil {
			return 0, "", nil, ctx.Err()
		}
		if status == http.StatusRequestEntityTooLarge && size > 0 && chunk > uploadChunk {
			// A proxy that limits the size of a request: smaller PATCHes.
			chunk = uploadChunk
			attempt--
			continue
		}
		if retry, _ := retryPolicy(ctx, resp, doErr); !retry || status/100 == 2 {
			if !unsure {
				return 0, "", nil, s.wrap(r, step, err)
			}
			// A resend from where the registry last said it stood was
			// refused: it took part of the broken PATCH. Start again.
			if err := restart(); err != nil {
				return 0, "", nil, err
			}
			continue
		}
		if attempt+1 >= s.retry.Attempts {
			return 0, "", nil, s.wrap(r, fmt.Sprintf("%s: gave up after %d tries without progress", step, attempt+1), err)
		}
		if err := ocistore.Sleep(ctx, s.retry.wait(attempt, resp)); err != nil {
			return 0, "", nil, err
		}
		if n, next, ok := s.uploadStatus(ctx, r, loc); ok {
			if n > sb.pos {
				return 0, "", nil, fmt.Errorf("%s: %s: the registry holds %d bytes of the upload, more than were sent (%d): %w", r, step, n, sb.pos, registry.ErrDigestMismatch)
			}
			confirm(n, next)
		} else {
			// Resend from where the registry last said it stood, which
			// holds if the broken PATCH never reached it.
			unsure = true
		}
	}
	if h == nil {
		return off, "", loc, nil
	}
	return off, digestOf(h), loc, nil
}

// hasMore tells whether rd has a byte at offset at.
func hasMore(rd io.ReadSeeker, at int64) (bool, error) {
	if _, err := rd.Seek(at, io.SeekStart); err != nil {
		return false, err
	}
	var one [1]byte
	n, err := rd.Read(one[:])
	if n > 0 {
		return true, nil
	}
	if err != nil && err != io.EOF {
		return false, err
	}
	return false, nil
}

// rangeEnd reads the Range header of an upload's answer ("0-<last>",
// distribution spec) as the number of bytes the registry holds.
func rangeEnd(resp *http.Response) (int64, bool) {
	var first, last int64
	if _, err := fmt.Sscanf(resp.Header.Get("Range"), "%d-%d", &first, &last); err != nil || first != 0 {
		return 0, false
	}
	if last == 0 {
		// "0-0" is what registries answer for an empty upload (and, by
		// the letter of it, for one of one byte).
		return 0, true
	}
	return last + 1, true
}

// streamBody reads a streamed PATCH's bytes from the source, from blob
// offset pos, up to limit if not -1. It hashes into h (if not nil) only the
// bytes past the first *hashed (those before were hashed by an earlier
// try) and keeps the source's error apart from the network's.
type streamBody struct {
	r      io.Reader
	pos    int64
	limit  int64
	h      hash.Hash
	hashed *int64
	eof    bool  // the source ended
	err    error // the source failed
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.limit >= 0 {
		if b.pos >= b.limit {
			return 0, io.EOF
		}
		p = p[:min(int64(len(p)), b.limit-b.pos)]
	}
	n, err := b.r.Read(p)
	b.pos += int64(n)
	if b.h != nil && b.pos > *b.hashed {
		b.h.Write(p[n-int(b.pos-*b.hashed) : n])
		*b.hashed = b.pos
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// guardedBody is a request body that tells when the transport is done with
// it (closed) and is never read after: net/http may read a body after Do
// has returned, and close it from a goroutine of its own (HTTP/2), and
// go-containerregistry's bearer transport sends a request again after a
// 401. Without it, the source could be read for two requests at once.
type guardedBody struct {
	r      io.Reader
	mu     sync.Mutex
	done   bool
	closed chan struct{}
}

var errBodyClosed = errors.New("request body read after it was closed")

func newGuardedBody(r io.Reader) *guardedBody {
	return &guardedBody{r: r, closed: make(chan struct{})}
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, errBodyClosed
	}
	return b.r.Read(p)
}

// Close returns once no Read is running, and makes any later one fail.
func (b *guardedBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		close(b.closed)
	}
	return nil
}

// remember notes that repository r holds blob d, for later mounts.
func (s *Store) remember(d digest.Digest, r name.Repository) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[d] = r.RepositoryStr()
}

// seenIn returns another repository of this registry known to hold d, or "".
func (s *Store) seenIn(d digest.Digest, r name.Repository) string {
	if d == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if from := s.seen[d]; from != r.RepositoryStr() {
		return from
	}
	return ""
}

// defaultStreamChunk is the most one PATCH of a blob streamed from a
// seekable source carries. Each PATCH the registry has answered is a point
// an upload can resume from after a drop, and costs a round trip. (A drop
// after distribution took part of a PATCH still sends the upload again
// from byte 0: distribution cannot say how much it took, and cancels the
// upload when asked.) A
// 2 GiB push to distribution on loopback took 11.0-12.0 s in 256 MiB
// PATCHes, 11.4-13.6 s in 64 MiB ones and 12.6-13.5 s in one (three runs
// each, interleaved); the chunks cost no memory, being read from the
// source as they are sent.
const defaultStreamChunk = 256 << 20

// uploadChunk is the size of one PATCH of a blob upload from a source that
// cannot seek (chunkBlob): the most a dropped connection can cost there. An
// upload holds two (readChunks). It is also the PATCH size of a stream that
// a proxy refused with 413 for its size.
const uploadChunk = 16 << 20

// chunk is a piece of an upload's source: b holds what was read, err what
// reading it ended with. done hands the buffer back for the next read.
type chunk struct {
	b    []byte
	err  error
	done func()
}

// readChunks reads r in uploadChunk pieces on a goroutine of its own, one
// piece ahead of the caller, into two buffers taken in turn: the next
// chunk is read from disk while the last is on the network, instead of
// the disk and the network waiting for each other. size, if not 0, is the
// expected size of r: a blob smaller than a chunk gets one buffer of its
// size (plus the byte that finds its end), and the second buffer is made
// only once the first has filled. The channel closes
// after the piece that ends with an error (io.EOF or io.ErrUnexpectedEOF
// at the end). stop ends the goroutine and returns once it has, so r is
// not read after stop returns; once ctx is done, stop returns at once,
// and one Read of r, under way (a source that stalls) or just starting,
// may still run after it, but no other.
func readChunks(ctx context.Context, r io.Reader, size int64) (<-chan chunk, func()) {
	free := make(chan []byte, 2)
	first := int64(uploadChunk)
	if size > 0 && size < uploadChunk {
		first = size + 1
	}
	free <- make([]byte, first)
	made := 1
	out := make(chan chunk)
	quit := make(chan struct{})
	r = quitReader{r: r, quit: quit}
	go func() {
		defer close(out)
		for {
			var b []byte
			if made == 1 && len(free) == 0 {
				made++
				b = make([]byte, uploadChunk)
			} else {
				select {
				case b = <-free:
				case <-quit:
					return
				}
			}
			n, err := io.ReadFull(r, b)
			c := chunk{b: b[:n], err: err, done: func() { free <- b }}
			select {
			case out <- c:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stop := func() {
		close(quit)
		for {
			select {
			case _, more := <-out:
				if !more {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
	return out, stop
}

// quitReader reads r until quit is closed, and then fails.
type quitReader struct {
	r    io.Reader
	quit chan struct{}
}

var errStopped = errors.New("source no longer read: the upload stopped")

func (q quitReader) Read(b []byte) (int, error) {
	select {
	case <-q.quit:
		return 0, errStopped
	default:
		return q.r.Read(b)
	}
}

// uploadChunk sends chunk, the blob's bytes from offset off, with PATCH
// and Content-Range, retrying within the budget. After a failure it asks
// the registry how much it holds (GET on the upload URL) and sends only the
// rest; a registry that cannot say is sent the rest from where it last said
// it stood. An answer whose Range shows that the registry took none of
// what was sent counts as a failure too. A refusal (a 4xx but 429) is
// final. It returns the upload URL for the next request.
func (s *Store) uploadChunk(ctx context.Context, r name.Repository, loc *url.URL, off int64, chunk []byte) (*url.URL, error) {
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, err
	}
	step := fmt.Sprintf("push blob: upload bytes %d-%d", off, off+int64(len(chunk))-1)
	sent := 0
	for attempt := 0; ; attempt++ {
		body := newGuardedBody(bytes.NewReader(chunk[sent:]))
		req, err := http.NewRequestWithContext(withoutRetries(ctx), http.MethodPatch, loc.String(), body)
		if err != nil {
			return nil, err
		}
		req.ContentLength = int64(len(chunk) - sent)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off+int64(sent), off+int64(len(chunk))-1))
		resp, doErr := c.Do(req)
		err = doErr
		// net/http may go on reading the body after Do fails; the chunk's
		// buffer is reused only once the transport has closed it.
		<-body.closed
		stuck := false // a 2xx that says none of what was sent was taken
		if err == nil {
			err = transport.CheckError(resp, http.StatusAccepted, http.StatusNoContent)
			resp.Body.Close()
			if err == nil {
				next, lerr := location(loc, resp)
				if lerr != nil {
					return nil, s.wrap(r, step, lerr)
				}
				// The registry says how much it holds (Range); by the spec
				// all that was sent, but one may take less. No Range, or
				// the ambiguous "0-0", is taken to mean all.
				n, ok := rangeEnd(resp)
				if !ok || n == 0 || n >= off+int64(len(chunk)) {
					return next, nil
				}
				if n < off {
					return nil, fmt.Errorf("%s: %s: the registry holds %d bytes of the upload, outside this chunk: %w", r, step, n, registry.ErrDigestMismatch)
				}
				if n > off+int64(sent) {
					sent, loc, attempt = int(n-off), next, -1
					continue
				}
				stuck = true
				err = fmt.Errorf("the registry answered %d but holds %d bytes of the upload, none of the %d sent", resp.StatusCode, n, len(chunk)-sent)
				sent, loc = int(n-off), next
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A refusal is final: distribution, for one, cancels an upload it
		// took part of a broken PATCH for, and a source that cannot seek
		// cannot start again.
		if retry, _ := retryPolicy(ctx, resp, doErr); !retry && !stuck {
			return nil, s.wrap(r, step, err)
		}
		if attempt+1 >= s.retry.Attempts {
			return nil, s.wrap(r, fmt.Sprintf("%s: gave up after %d tries", step, attempt+1), err)
		}
		if err := ocistore.Sleep(ctx, s.retry.wait(attempt, resp)); err != nil {
			return nil, err
		}
		if n, next, ok := s.uploadStatus(ctx, r, loc); ok {
			if n < off || n > off+int64(len(chunk)) {
				return nil, fmt.Errorf("%s: %s: the registry holds %d bytes of the upload, outside this chunk: %w", r, step, n, registry.ErrDigestMismatch)
			}
			sent, loc = int(n-off), next
			if sent == len(chunk) {
				return loc, nil
			}
		}
		// A registry that cannot say is sent the rest from where it last
		// said it stood, which holds if the broken PATCH never reached it.
	}
}

// uploadStatus asks where an upload stands (GET on its URL, distribution
// spec §get-blob-upload-status): the number of bytes received and the URL
// to continue at. ok is false if the registry cannot say.
func (s *Store) uploadStatus(ctx context.Context, r name.Repository, loc *url.URL) (int64, *url.URL, bool) {
	c, err := s.client(ctx, r)
	if err != nil {
		return 0, nil, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return 0, nil, false
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, nil, false
	}
	n, ok := rangeEnd(resp)
	if !ok {
		return 0, nil, false
	}
	next, err := location(loc, resp)
	if err != nil {
		return 0, nil, false
	}
	return n, next, true
}

func digestOf(h hash.Hash) digest.Digest { return digest.NewDigest(digest.SHA256, h) }

func location(base *url.URL, resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errors.New("registry sent no upload Location")
	}
	u, err := base.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("upload Location %q: %w", loc, err)
	}
	return u, nil
}

// PushManifest implements registry.ManifestPusher: it checks that every
// blob and manifest the manifest references is in the repository (the
// subject may be absent, as the OCI spec allows), then PUTs it by digest.
func (s *Store) PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error) {
	r, err := s.repository(repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(manifest) > artifact.MaxManifestSize {
		return ocispec.Descriptor{}, fmt.Errorf("%s: manifest of %d bytes: %w", r, len(manifest), registry.ErrTooLarge)
	}
	refs, err := ocistore.References(mediaType, manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", r, err)
	}
	for _, d := range refs {
		ok, err := s.Exists(ctx, repo, d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%s: manifest references %s, which the registry does not have: %w", r, d.Digest, registry.ErrNotFound)
		}
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := s.putManifest(ctx, r, desc.Digest.String(), mediaType, manifest); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// putManifest PUTs manifest under ref (a digest or a tag). It is done here
// rather than by go-containerregistry's remote.Put, which also rewrites the
// referrers tag schema index of a manifest with a subject, recording the
// config media type as its artifactType; AddReferrer keeps that index.
func (s *Store) putManifest(ctx context.Context, r name.Repository, ref, mediaType string, manifest []byte) error {
	step := "push manifest " + ref
	c, err := s.client(ctx, r)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.url(r, "manifests/"+ref), bytes.NewReader(manifest))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", mediaType)
		resp, err := c.Do(req)
		if err != nil {
			return s.wrap(r, step, err)
		}
		err = transport.CheckError(resp, http.StatusCreated)
		resp.Body.Close()
		if err == nil {
			return nil
		}
		// The distribution registry answers MANIFEST_BLOB_UNKNOWN for a blob
		// it has while another client's upload of the same blob into the
		// repository is being linked (concurrent copies of artifacts that
		// share the empty blob): the callers checked the blobs first, so a
		// short wait and a second PUT go through.
		var te *transport.Error
		if try >= 3 || !errors.As(err, &te) || !hasCode(te, transport.ManifestBlobUnknownErrorCode) {
			return s.wrap(r, step, err)
		}
		if err := ocistore.Sleep(ctx, time.Duration(50<<try)*time.Millisecond); err != nil {
			return err
		}
	}
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// DefaultTagSettle is how long Tag waits, by default, between writing a
// new immutable tag and reading it back (see Tag and WithTagSettle).
const DefaultTagSettle = 300 * time.Millisecond

// Tag implements registry.Tagger. The distribution API has no
// compare-and-set for tags (a PUT of a tag always wins, and the spec has
// no conditional request for it), so Tag runs Fischer's timed mutual
// exclusion over the tag itself: it reads the tag (another digest there:
// ErrImmutableTag; its own: done), PUTs it, waits the settle time (at least
// WithTagSettle's, default DefaultTagSettle, and at least twice what its
// own read-to-PUT took), and reads it back. Of writers racing for a new
// tag, each one's PUT lands after the one before it read the tag absent,
// so only the writer whose PUT landed last reads back its own digest; the
// others fail with an error wrapping ErrImmutableTag that names both
// digests, and their manifests stay untagged. What remains a race: a
// writer whose read-to-PUT takes longer than the others' settle time (a
// stalled client or registry) can overwrite a tag another writer has
// already reported as its own; a registry that enforces tag immutability
// itself (Harbor, ECR) refuses that PUT instead.
func (s *Store) Tag(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error {
	r, t, err := s.tagRef(repo, tag)
	if err != nil {
		return err
	}
	// Read the manifest first, so that the window between the check and
	// the PUT holds nothing else.
	body, err := s.fetchManifest(ctx, r, desc.Digest.String())
	if err != nil {
		return err
	}
	start := time.Now()
	cur, err := s.headTag(ctx, r, t)
	switch {
	case err == nil && cur.Digest == desc.Digest:
		return nil
	case err == nil:
		return fmt.Errorf("%s/%s:%s points at %s, not %s: %w", s, repo, tag, cur.Digest, desc.Digest, registry.ErrImmutableTag)
	case !errors.Is(err, registry.ErrNotFound):
		return err
	}
	if err := s.putManifest(ctx, r, t.TagStr(), manifestType(desc, body), body); err != nil {
		return err
	}
	if err := ocistore.Sleep(ctx, max(s.tagSettle, 2*time.Since(start))); err != nil {
		return err
	}
	got, err := s.headTag(ctx, r, t)
	if err != nil {
		return fmt.Errorf("%s/%s:%s: read back after tagging %s: %w", s, repo, tag, desc.Digest, err)
	}
	if got.Digest != desc.Digest {
		return fmt.Errorf("%s/%s:%s points at %s, not %s: another writer tagged it at the same time, and won: %w",
			s, repo, tag, got.Digest, desc.Digest, registry.ErrImmutableTag)
	}
	return nil
}

// tagRef validates repo and tag and returns their references.
func (s *Store) tagRef(repo, tag string) (name.Repository, name.Tag, error) {
	r, err := s.repository(repo)
	if err != nil {
		return r, name.Tag{}, err
	}
	if err := registry.ValidateTag(tag); err != nil {
		return r, name.Tag{}, fmt.Errorf("%s: %w", r, err)
	}
	t, err := name.NewTag(r.String()+":"+tag, name.StrictValidation)
	if err != nil {
		return r, name.Tag{}, fmt.Errorf("%s: tag %q: %w", r, tag, registry.ErrInvalidRef)
	}
	return r, t, nil
}

// manifestType is desc's media type, or the one body declares.
func manifestType(desc ocispec.Descriptor, body []byte) string {
	if desc.MediaType != "" {
		return desc.MediaType
	}
	return manifestMediaType(body)
}

// headTag resolves t with a HEAD; an absent tag or repository is an error
// wrapping registry.ErrNotFound.
func (s *Store) headTag(ctx context.Context, r name.Repository, t name.Tag) (ocispec.Descriptor, error) {
	d, err := ggcr.Head(t, s.remoteOptions(ctx, r)...)
	if err != nil {
		return ocispec.Descriptor{}, s.wrap(r, "resolve "+t.TagStr(), err)
	}
	return toOCI(d), nil
}

// Move implements registry.Tagger: it PUTs the manifest desc under tag.
func (s *Store) Move(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error {
	r, t, err := s.tagRef(repo, tag)
	if err != nil {
		return err
	}
	body, err := s.fetchManifest(ctx, r, desc.Digest.String())
	if err != nil {
		return err
	}
	return s.putManifest(ctx, r, t.TagStr(), manifestType(desc, body), body)
}

// Resolve implements registry.Resolver with a HEAD on the tag.
func (s *Store) Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error) {
	r, t, err := s.tagRef(repo, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d, err := s.headTag(ctx, r, t)
	if err == nil || !errors.Is(err, registry.ErrNotFound) {
		return d, err
	}
	// A HEAD answer has no body to say what is missing; the tag list does.
	if _, lerr := s.Tags(ctx, repo); errors.Is(lerr, registry.ErrRepositoryNotFound) {
		return ocispec.Descriptor{}, lerr
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", r, tag, registry.ErrTagNotFound)
}

func toOCI(d *v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size, ArtifactType: d.ArtifactType}
}

// Tags implements registry.TagLister, following the registry's pages
// (GET /v2/NAME/tags/list with n and Link, distribution spec
// §listing-tags) within MaxPages and MaxListingSize: a registry that pages
// on past them, or whose Link names a page already read, gives an error
// wrapping registry.ErrTooManyPages (registry.ErrTooLarge for the size)
// that names it and the repository.
func (s *Store) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := s.repository(repo)
	if err != nil {
		return nil, err
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = s.pages(ctx, c, r.String(), "list tags", s.url(r, fmt.Sprintf("tags/list?n=%d", pageSize)), "application/json", func(_ int, resp *http.Response, body []byte) (bool, error) {
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			if err := s.wrap(r, "list tags", err); errors.Is(err, registry.ErrNotFound) {
				return false, fmt.Errorf("%s: %w", r, registry.ErrRepositoryNotFound)
			}
			return false, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return false, fmt.Errorf("%s: list tags: the registry's answer is not a tag list: %v", r, err)
		}
		tags = append(tags, page.Tags...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(tags)
	return tags, nil
}

// Repositories lists the repositories of the registry below the store's
// namespace, with the namespace stripped, in lexical order, following the
// registry's pages (the catalog API, GET /v2/_catalog with n and Link, as
// the distribution registry serves it) within MaxPages and MaxListingSize,
// as Tags does. It lets catalog.Rebuild walk a registry as it walks a
// layout store. Many hosted registries do not offer the catalog: a 404 or
// 405 is an error wrapping errors.ErrUnsupported, and a 401 or 403 says
// how to log in (the catalog needs the registry:catalog:* scope).
func (s *Store) Repositories(ctx context.Context) ([]string, error) {
	c, err := s.catalogClient(ctx)
	if err != nil {
		return nil, err
	}
	first := fmt.Sprintf("%s://%s/v2/_catalog?n=%d", s.reg.Scheme(), s.reg.RegistryStr(), pageSize)
	var names []string
	err = s.pages(ctx, c, s.String(), "list repositories", first, "application/json", func(_ int, resp *http.Response, body []byte) (bool, error) {
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			switch resp.StatusCode {
			case http.StatusNotFound, http.StatusMethodNotAllowed:
				return false, fmt.Errorf("%s: list repositories: the registry does not offer its catalog (GET /v2/_catalog): %w (%v)", s, errors.ErrUnsupported, err)
			case http.StatusUnauthorized, http.StatusForbidden:
				return false, fmt.Errorf("%s: list repositories: %w (%w): log in with `docker login %s`; the catalog needs the registry:catalog:* scope", s, authError(resp.StatusCode), err, s.reg.Name())
			}
			return false, fmt.Errorf("%s: list repositories: %w", s, err)
		}
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return false, fmt.Errorf("%s: list repositories: the registry's answer is not a catalog: %v", s, err)
		}
		names = append(names, page.Repositories...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	prefix := ""
	if s.namespace != "" {
		prefix = s.namespace + "/"
	}
	var repos []string
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, prefix); ok && rest != "" {
			repos = append(repos, rest)
		}
	}
	sort.Strings(repos)
	return repos, nil
}

// catalogClient returns an HTTP client authenticated for the registry's
// catalog (scope registry:catalog:*), retrying within the budget.
func (s *Store) catalogClient(ctx context.Context) (*http.Client, error) {
	key := "catalog@" + s.reg.Name()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.transports[key]; ok {
		return &http.Client{Transport: t}, nil
	}
	auth := s.auth
	if auth == nil {
		var err error
		if auth, err = s.keychain.Resolve(s.reg); err != nil {
			return nil, fmt.Errorf("%s: credentials: %w", s.reg, err)
		}
	}
	t, err := transport.NewWithContext(ctx, s.reg, auth, s.retrying, []string{s.reg.Scope(transport.PullScope)})
	if err != nil {
		return nil, fmt.Errorf("%s: list repositories: authenticate: %w", s, err)
	}
	s.transports[key] = t
	return &http.Client{Transport: t}, nil
}

// Bounds of the listings that follow a registry's Link headers (the
// catalog, a repository's tags, a subject's referrers), so that a registry
// that pages for ever, or in a loop, cannot keep a listing going: at most
// MaxPages pages, of at most MaxListingSize bytes in all. Past either, or
// at a Link that names a page already read or another host, the listing
// stops with an error naming the registry and the listing. A thousand
// pages of the thousand names asked for (pageSize) are a million
// repositories or tags.
const (
	MaxPages       = 1000
	MaxListingSize = 64 << 20
)

// pageSize is the n asked of the catalog and tag list APIs (distribution
// caps it at 1,000 by default).
const pageSize = 1000

// pages GETs the listing what of where (a registry or repository, for
// errors) from first, with Accept accept, and then the pages the Link
// headers name (nextPage), within MaxPages and MaxListingSize. read gets
// each answer and its body (unread if the status is not 200) and returns
// false to stop without reading further pages.
func (s *Store) pages(ctx context.Context, c *http.Client, where, what, first, accept string, read func(page int, resp *http.Response, body []byte) (bool, error)) error {
	next, err := url.Parse(first)
	if err != nil {
		return err
	}
	origin := next.Scheme + "://" + next.Host
	seen := map[string]int{}
	var total int64
	for page := 0; next != nil; page++ {
		if page == MaxPages {
			return fmt.Errorf("%s: %s: more than %d pages: %w", where, what, MaxPages, registry.ErrTooManyPages)
		}
		if n, ok := seen[next.String()]; ok {
			return fmt.Errorf("%s: %s: the Link header of page %d names page %d again (%s): %w", where, what, page, n+1, next.Redacted(), registry.ErrTooManyPages)
		}
		seen[next.String()] = page
		if o := next.Scheme + "://" + next.Host; o != origin {
			return fmt.Errorf("%s: %s: the Link header of page %d names another host, %s: %w", where, what, page, o, registry.ErrInvalidRef)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", where, what, err)
		}
		var body []byte
		if resp.StatusCode == http.StatusOK {
			body, err = io.ReadAll(io.LimitReader(resp.Body, MaxListingSize-total+1))
			total += int64(len(body))
			if err == nil && total > MaxListingSize {
				err = fmt.Errorf("%s: %s: more than %d bytes: %w", where, what, MaxListingSize, registry.ErrTooLarge)
			}
		}
		more := false
		if err == nil {
			more, err = read(page, resp, body)
		}
		if err == nil && more {
			if next, err = nextPage(resp); err != nil {
				err = fmt.Errorf("%s: %s: %w", where, what, err)
			}
		} else {
			next = nil
		}
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Delete implements registry.Deleter (the registry must allow deletes). A
// delete by digest removes the tags too on the CNCF distribution registry;
// on registries where it does not, the tags still pointing at desc are
// deleted one by one.
func (s *Store) Delete(ctx context.Context, repo string, desc ocispec.Descriptor) error {
	r, err := s.repository(repo)
	if err != nil {
		return err
	}
	if err := ggcr.Delete(r.Digest(desc.Digest.String()), s.remoteOptions(ctx, r)...); err != nil {
		return s.wrap(r, "delete "+desc.Digest.String(), err)
	}
	tags, err := s.Tags(ctx, repo)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if d, err := s.Resolve(ctx, repo, tag); err == nil && d.Digest == desc.Digest {
			if err := ggcr.Delete(r.Tag(tag), s.remoteOptions(ctx, r)...); err != nil {
				return s.wrap(r, "delete tag "+tag, err)
			}
		}
	}
	return nil
}

// Referrers implements registry.ReferrerLister with the OCI distribution
// spec v1.1 referrers API, following its pages (a Link header with
// rel="next") within MaxPages and MaxListingSize, as Tags does. A
// registry without the API (the CNCF distribution registry 2.8 among
// them) answers 404, and supported is false.
func (s *Store) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, bool, error) {
	r, err := s.repository(repo)
	if err != nil {
		return nil, false, err
	}
	c, err := s.client(ctx, r)
	if err != nil {
		return nil, false, err
	}
	step := "referrers of " + subject.String()
	refs := []ocispec.Descriptor{}
	supported := true
	err = s.pages(ctx, c, r.String(), step, s.url(r, "referrers/"+subject.String()), ocispec.MediaTypeImageIndex, func(page int, resp *http.Response, body []byte) (bool, error) {
		if resp.StatusCode == http.StatusNotFound && page == 0 {
			supported = false
			return false, nil
		}
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return false, s.wrap(r, step, err)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return false, fmt.Errorf("%s: %s: %w: %v", r, step, artifact.ErrInvalidManifest, err)
		}
		refs = append(refs, idx.Manifests...)
		return true, nil
	})
	if err != nil || !supported {
		return nil, false, err
	}
	return refs, true, nil
}

// nextPage returns the URL of the next page that resp's Link header names
// (distribution spec: `Link: <URL>; rel="next"`, the URL relative to the
// request's), or nil when there is none. go-containerregistry parses the
// same header for tag lists but does not export it, and the header is
// this one form here, so no general RFC 8288 parser is brought in.
func nextPage(resp *http.Response) (*url.URL, error) {
	link := resp.Header.Get("Link")
	if link == "" {
		return nil, nil
	}
	target, params, _ := strings.Cut(link, ";")
	target = strings.TrimSpace(target)
	if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
		return nil, fmt.Errorf("Link header %q: want <URL>; rel=\"next\"", link)
	}
	u, err := resp.Request.URL.Parse(target[1 : len(target)-1])
	if err != nil {
		return nil, fmt.Errorf("Link header %q: %w", link, err)
	}
	return u, nil
}

// manifestMediaType reads the mediaType field of a manifest, defaulting to
// the OCI image manifest (the field is only RECOMMENDED).
func manifestMediaType(b []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	return ocispec.MediaTypeImageManifest
}
