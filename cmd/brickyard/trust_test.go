package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustCommands: publish --provenance, attest, verify-attestation,
// policy check, resolve --policy and revoke, with the exit codes that tell
// "not trusted" (3) from "error" (1).
func TestTrustCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("publish", "machine-image", "base-ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-0", "--key", c.key())
	c.ok("publish", "machine-image", "web-ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-1",
		"--parent", "base-ami@1.0.0", "--builder", "packer/amazon-ebs", "--key", c.key(), "--provenance")
	// The "whoAMI" case: the right name, signed with a trusted key, another account.
	c.ok("publish", "machine-image", "web-ami", "1.1.0", "--owner", "666666666666", "--image", "eu-west-1=ami-2",
		"--parent", "base-ami@1.0.0", "--builder", "packer/amazon-ebs", "--key", c.key(), "--provenance")
	// Signed, but without provenance.
	c.ok("publish", "machine-image", "web-ami", "1.2.0", "--owner", "123456789012", "--image", "eu-west-1=ami-3",
		"--parent", "base-ami@1.0.0", "--key", c.key())

	var va struct {
		Provenance struct {
			BuilderID    string `json:"builderId"`
			BuildType    string `json:"buildType"`
			Dependencies []struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(c.ok("--json", "verify-attestation", "web-ami@1.0.0", "--key", c.pubKey())), &va); err != nil {
		t.Fatal(err)
	}
	if va.Provenance.BuilderID != "https://brickyard.dev/builders/packer/amazon-ebs" || va.Provenance.BuildType != "https://www.packer.io/build@v1" ||
		len(va.Provenance.Dependencies) != 1 || va.Provenance.Dependencies[0].Name != "base-ami@1.0.0" {
		t.Errorf("verify-attestation: %+v", va.Provenance)
	}
	c.fail(exitUntrusted, []string{"web-ami@1.2.0", "provenance missing"}, "verify-attestation", "web-ami@1.2.0", "--key", c.pubKey())
	c.ok("attest", "web-ami@1.2.0", "--key", c.key(), "--builder-id", "https://laptop.example/me")
	c.ok("verify-attestation", "web-ami@1.2.0", "--key", c.pubKey())

	policy := filepath.Join(c.dir, "policy.yaml")
	pol := "version: 1\nrules:\n- names: ['*-ami']\n  keys: [cosign.pub]\n  owner: {accounts: ['123456789012']}\n" +
		"  provenance: {required: true, builders: ['https://brickyard.dev/builders/packer/amazon-ebs']}\n"
	if err := os.WriteFile(policy, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("policy", "check", policy); !strings.Contains(out, "valid, 1 rule") {
		t.Errorf("policy check: %q", out)
	}
	c.fail(exitUntrusted, []string{"web-ami@1.1.0", "666666666666", "owner"}, "policy", "check", policy, "web-ami@1.0.0", "web-ami@1.1.0")
	c.fail(exitUntrusted, []string{"laptop.example", "provenance does not match"}, "policy", "check", policy, "web-ami@1.2.0")
	if out := c.ok("resolve", "web-ami", "^1", "--policy", policy); !strings.HasPrefix(out, "web-ami@1.0.0 sha256:") {
		t.Errorf("resolve --policy = %q, want 1.0.0: 1.1.0 is another account's, 1.2.0 from a builder the policy does not allow", out)
	}
	c.fail(exitUntrusted, []string{"666666666666"}, "resolve", "web-ami", "~1.1", "--policy", policy)
	c.ok("revoke", "web-ami@1.0.0", "--reason", "private key baked into the image", "--actor", "security")
	c.fail(exitUntrusted, []string{"revoked", "private key baked into the image"}, "resolve", "web-ami", "~1.0", "--policy", policy)
	c.fail(exitUntrusted, []string{"revoked"}, "policy", "check", policy, "web-ami@1.0.0")

	// Errors that are not trust decisions exit 1 or 2, not 3.
	bad := filepath.Join(c.dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nrules:\n- names: ['*']\n  keys: [cosign.pub]\n  owner: {accounts: ['1']}\n  trustAll: true\n"), 0o644)
	c.fail(exitError, []string{"bad.yaml", "trustAll"}, "policy", "check", bad)
	c.fail(exitUsage, []string{"--policy", "--key"}, "resolve", "web-ami", "^1")
	c.fail(exitUsage, []string{"--reason"}, "revoke", "web-ami@1.1.0")
	c.fail(exitUsage, []string{"--provenance needs --key"}, "publish", "machine-image", "xy", "1.0.0", "--owner", "1", "--image", "eu-west-1=ami-9", "--provenance")
}
