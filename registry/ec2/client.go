package ec2

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// Client reaches the AMIs and snapshots of one AWS account in several
// regions. It is safe for concurrent use.
type Client struct {
	cfg     aws.Config
	regions []string
	ec2     map[string]*ec2.Client // by region
	sts     *sts.Client
	pageMax int32

	accountOnce sync.Once
	account     string
	accountErr  error
}

type options struct {
	regions     []string
	endpoint    string
	profile     string
	roleARN     string
	externalID  string
	creds       aws.CredentialsProvider
	httpClient  aws.HTTPClient
	maxAttempts int
	maxBackoff  time.Duration
	pageSize    int32
}

// Option configures New.
type Option func(*options) error

// WithRegions sets the regions the client works in (at least one; default:
// the region of the default config chain).
func WithRegions(regions ...string) Option {
	return func(o *options) error {
		for _, r := range regions {
			if r == "" {
				return fmt.Errorf("ec2: empty region: %w", ErrInvalidOption)
			}
		}
		o.regions = append(o.regions, regions...)
		return nil
	}
}

// WithEndpoint sends every EC2 and STS call to url (BaseEndpoint): a VPC
// endpoint, or an emulator in tests.
func WithEndpoint(url string) Option {
	return func(o *options) error { o.endpoint = url; return nil }
}

// WithProfile uses a named profile of the shared config files.
func WithProfile(name string) Option {
	return func(o *options) error { o.profile = name; return nil }
}

// WithAssumeRole acts in another account: the credentials of the default
// chain assume roleARN through STS (stscreds), with externalID if not "".
func WithAssumeRole(roleARN, externalID string) Option {
	return func(o *options) error {
		if roleARN == "" {
			return fmt.Errorf("ec2: empty role ARN: %w", ErrInvalidOption)
		}
		o.roleARN, o.externalID = roleARN, externalID
		return nil
	}
}

// WithCredentials replaces the default chain's credentials.
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(o *options) error { o.creds = p; return nil }
}

// WithHTTPClient sets the HTTP client the SDK uses.
func WithHTTPClient(c aws.HTTPClient) Option {
	return func(o *options) error { o.httpClient = c; return nil }
}

// WithRetry sets the retry budget of the SDK's standard retryer: attempts
// per call (≥ 1; default 5) and the longest pause between two (default
// 20 s). Throttling, 5xx and dropped connections are retried.
func WithRetry(maxAttempts int, maxBackoff time.Duration) Option {
	return func(o *options) error {
		if maxAttempts < 1 || maxBackoff <= 0 {
			return fmt.Errorf("ec2: retry %d attempts, %s backoff: %w", maxAttempts, maxBackoff, ErrInvalidOption)
		}
		o.maxAttempts, o.maxBackoff = maxAttempts, maxBackoff
		return nil
	}
}

// WithPageSize sets MaxResults for the listings (DescribeImages accepts
// 6–1000; default 1000).
func WithPageSize(n int32) Option {
	return func(o *options) error {
		if n < 6 || n > 1000 {
			return fmt.Errorf("ec2: page size %d, want 6–1000: %w", n, ErrInvalidOption)
		}
		o.pageSize = n
		return nil
	}
}

// New loads the default config chain (environment, shared config and
// credentials files and profiles, SSO, web identity, instance roles) and
// makes one EC2 client per region. Options that cannot apply return an
// error wrapping ErrInvalidOption; a chain without a region and no
// WithRegions too.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	o := options{maxAttempts: 5, maxBackoff: 20 * time.Second, pageSize: 1000}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	load := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.maxAttempts
				so.MaxBackoff = o.maxBackoff
			})
		}),
	}
	if o.profile != "" {
		load = append(load, config.WithSharedConfigProfile(o.profile))
	}
	if o.creds != nil {
		load = append(load, config.WithCredentialsProvider(o.creds))
	}
	if o.httpClient != nil {
		load = append(load, config.WithHTTPClient(o.httpClient))
	}
	if len(o.regions) > 0 {
		load = append(load, config.WithRegion(o.regions[0]))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("ec2: load AWS config: %w", err)
	}
	if len(o.regions) == 0 {
		if cfg.Region == "" {
			return nil, fmt.Errorf("ec2: no region: set AWS_REGION or pass regions: %w", ErrInvalidOption)
		}
		o.regions = []string{cfg.Region}
	}
	stsOpts := func(so *sts.Options) {
		if o.endpoint != "" {
			so.BaseEndpoint = aws.String(o.endpoint)
		}
	}
	if o.roleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg, stsOpts), o.roleARN,
			func(ao *stscreds.AssumeRoleOptions) {
				if o.externalID != "" {
					ao.ExternalID = aws.String(o.externalID)
				}
			}))
	}
	c := &Client{cfg: cfg, ec2: map[string]*ec2.Client{}, sts: sts.NewFromConfig(cfg, stsOpts), pageMax: o.pageSize}
	for _, r := range o.regions {
		if _, dup := c.ec2[r]; dup {
			continue
		}
		c.regions = append(c.regions, r)
		c.ec2[r] = ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
			eo.Region = r
			if o.endpoint != "" {
				eo.BaseEndpoint = aws.String(o.endpoint)
			}
		})
	}
	sort.Strings(c.regions)
	return c, nil
}

// Regions returns the client's regions, sorted.
func (c *Client) Regions() []string { return append([]string(nil), c.regions...) }

func (c *Client) client(region string) (*ec2.Client, error) {
	if cl, ok := c.ec2[region]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("ec2: region %q is not one of the client's %v: %w", region, c.regions, ErrInvalidOption)
}

// Account returns the id of the account the credentials act as (STS
// GetCallerIdentity, asked once).
func (c *Client) Account(ctx context.Context) (string, error) {
	c.accountOnce.Do(func() {
		out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			c.accountErr = wrap("GetCallerIdentity", c.cfg.Region, "", err)
			return
		}
		c.account = aws.ToString(out.Account)
	})
	return c.account, c.accountErr
}

// Action is one call that changed (or would have changed) something in
// the cloud, for the catalog's event log.
type Action struct {
	Region    string `json:"region"`
	Action    string `json:"action"`   // the EC2 API action, e.g. "EnableImageDeprecation"
	Resource  string `json:"resource"` // the image or snapshot id
	RequestID string `json:"requestId,omitempty"`
	// Changed is false when the cloud already matched and no call was
	// made (RequestID is then empty).
	Changed bool   `json:"changed"`
	Detail  string `json:"detail,omitempty"`
}

func requestID(md middleware.Metadata) string {
	id, _ := awsmw.GetRequestIDMetadata(md)
	return id
}
