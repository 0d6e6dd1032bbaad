// Package ec2test runs EC2 for tests and benchmarks without AWS: moto's
// server (moto_server) on a free loopback port, checked before it is
// trusted, and a Proxy in front of it that adds the few calls moto lacks,
// splits DescribeImages into pages and injects faults.
package ec2test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Account is the account moto acts as.
const Account = "123456789012"

// ErrNoMoto says moto_server is not installed.
var ErrNoMoto = errors.New("moto_server not found: install it with pip install 'moto[server]'")

// Moto is a running moto_server.
type Moto struct {
	URL string // http://127.0.0.1:PORT
	cmd *exec.Cmd
	log *os.File
}

// MotoOptions configure StartMoto.
type MotoOptions struct {
	// AMIsPath is a JSON seed of AMIs (MOTO_AMIS_PATH: a list of objects
	// with ami_id, name, owner_id, public, architecture...); it replaces
	// moto's default seed. Empty: no seeded AMIs at all.
	AMIsPath string
	// LogPath receives moto's output; empty discards it.
	LogPath string
}

// StartMoto starts moto_server on a free loopback port and waits until
// STS GetCallerIdentity on it answers account 123456789012: a port taken
// by another server also answers HTTP, so only that answer is trusted.
// ErrNoMoto if moto_server is not on PATH.
func StartMoto(ctx context.Context, o MotoOptions) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MOTO_EC2_LOAD_DEFAULT_AMIS=false", "AWS_DEFAULT_REGION=us-east-1")
	if o.AMIsPath != "" {
		cmd.Env = append(cmd.Env, "MOTO_AMIS_PATH="+o.AMIsPath)
	}
	ownProcessGroup(cmd) // Close ends the shim and the server it starts
	m := &Moto{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	if o.LogPath != "" {
		if m.log, err = os.Create(o.LogPath); err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = m.log, m.log
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	st := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		out, err := st.GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
		cancel()
		if err == nil {
			if a := aws.ToString(out.Account); a != Account {
				m.Close()
				return nil, fmt.Errorf("port %d answers GetCallerIdentity with account %q, not moto's %s", port, a, Account)
			}
			return m, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("moto_server exited before answering: %v", err)
		case <-ctx.Done():
			m.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Close()
			return nil, fmt.Errorf("moto_server on port %d did not answer GetCallerIdentity in 60 s: %v", port, err)
		}
	}
}

// Close stops the server (its process group, which it alone is in).
func (m *Moto) Close() error {
	if m.cmd.Process != nil {
		killProcessGroup(m.cmd.Process)
	}
	if m.log != nil {
		m.log.Close()
	}
	return nil
}

// Start starts moto for a test and stops it at the end; it skips the test
// loudly, saying how to install moto, when moto_server is missing.
func Start(t testing.TB, o MotoOptions) *Moto {
	t.Helper()
	m, err := StartMoto(context.Background(), o)
	if errors.Is(err, ErrNoMoto) {
		t.Skip("SKIPPED: moto_server is not installed; install it with: pip install 'moto[server]' (Python ≥ 3.9)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// EC2 returns a plain SDK client of region at url, for seeding test data
// (one attempt: no retries hide a fault).
func EC2(url, region string) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// RegisterImage registers an AMI named name in cl's region, with tags, and
// returns its id and its snapshot's id.
func RegisterImage(ctx context.Context, cl *ec2.Client, name string, tags map[string]string) (id, snapshot string, err error) {
	out, err := cl.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name), Description: aws.String("test image " + name)})
	if err != nil {
		return "", "", err
	}
	id = aws.ToString(out.ImageId)
	if len(tags) > 0 {
		in := &ec2.CreateTagsInput{Resources: []string{id}}
		for k, v := range tags {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		if _, err := cl.CreateTags(ctx, in); err != nil {
			return "", "", err
		}
	}
	d, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		return "", "", err
	}
	for _, im := range d.Images {
		for _, b := range im.BlockDeviceMappings {
			if b.Ebs != nil && b.Ebs.SnapshotId != nil {
				snapshot = *b.Ebs.SnapshotId
			}
		}
	}
	return id, snapshot, nil
}
