package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Retry is the budget for riding out registry faults: HTTP 5xx (but 501),
// 429 and broken connections. Every request is retried; the bodies of blob
// uploads and downloads are resumed where the registry stands rather than
// sent again from the start (but see Store.PushBlob for a registry that
// cannot say where an upload stands).
type Retry struct {
	// Attempts is the number of tries per request, the first included; 1
	// turns retries off. For a blob upload or download it is the number of
	// failures in a row without progress.
	Attempts int
	// MinWait is the first wait; each later one doubles, up to MaxWait, with
	// full jitter (a random time between half and all of it). A Retry-After
	// header on a 429 or 503 is honoured instead, up to MaxWait.
	MinWait, MaxWait time.Duration
}

// DefaultRetry rides out a flaky registry for about a minute per request:
// 8 tries, waits from 200 ms doubling to at most 15 s.
var DefaultRetry = Retry{Attempts: 8, MinWait: 200 * time.Millisecond, MaxWait: 15 * time.Second}

// WithRetry sets the retry budget (see Retry and DefaultRetry).
func WithRetry(r Retry) Option {
	return func(o *options) error {
		if r.Attempts < 1 || r.MinWait < 0 || r.MaxWait < r.MinWait {
			return errInvalidRetry
		}
		o.retry = r
		return nil
	}
}

// wait returns how long to wait before try number attempt+1 (attempt counts
// from 0), given the failed response if there was one.
func (r Retry) wait(attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) &&
		resp.Header.Get("Retry-After") != "" {
		return min(retryablehttp.DefaultBackoff(r.MinWait, r.MaxWait, attempt, resp), r.MaxWait)
	}
	d := retryablehttp.DefaultBackoff(r.MinWait, r.MaxWait, attempt, nil)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// retryPolicy is retryablehttp's, except that an HTTPS request answered in
// plain HTTP is final: go-containerregistry tries HTTPS first on an insecure
// registry and falls back to HTTP on exactly that error. net/http reports it
// with errors.New, so its message is the only thing to test.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) || (err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")) {
		return false, err
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// noRetryKey marks a request context whose request must go out once: a
// blob upload PATCH, which streamBlob and uploadChunk resume from where the
// registry stands rather than send again blindly.
type noRetryKey struct{}

func withoutRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

// retryingTransport retries requests within the budget, except those whose
// context says withoutRetries.
type retryingTransport struct {
	retrying, base http.RoundTripper
}

func (t retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(noRetryKey{}) != nil {
		return t.base.RoundTrip(req)
	}
	return t.retrying.RoundTrip(req)
}

// retrying wraps base so that every request is retried within r, but those
// sent withoutRetries.
func (r Retry) retrying(base http.RoundTripper) http.RoundTripper {
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: base}
	c.RetryMax = r.Attempts - 1
	c.RetryWaitMin, c.RetryWaitMax = r.MinWait, r.MaxWait
	c.Backoff = func(_, _ time.Duration, attempt int, resp *http.Response) time.Duration { return r.wait(attempt, resp) }
	c.Logger = nil
	c.CheckRetry = retryPolicy
	// Hand the last response back as it is, so its status and error body
	// reach the caller's error message.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return retryingTransport{retrying: &retryablehttp.RoundTripper{Client: c}, base: base}
}
