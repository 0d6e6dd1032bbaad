package sign_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/bundle"
	"github.com/opencontainers/go-digest"
)

// cosignCLI finds the cosign CLI that scripts/build-tools builds.
func cosignCLI(t *testing.T) string {
	t.Helper()
	if dir, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(dir, "brickyard-test", "bin", "cosign")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	t.Skip("SKIPPED LOUDLY: the cosign CLI is not built (scripts/build-tools cosign); interop with it not checked")
	return ""
}

// cosignKeyPair has the cosign CLI make a key pair in dir (cosign.key,
// password "cosign-pw", and cosign.pub) and returns a verifier trusting it.
func cosignKeyPair(t *testing.T, cosign, dir string) *sign.Verifier {
	t.Helper()
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=cosign-pw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCosignInterop: against a real distribution registry, what brickyard
// signs `cosign verify` accepts, and what `cosign sign` signs brickyard
// verifies, for all three kinds of artifact; the same for SLSA provenance
// attestations with `cosign attest` and `cosign verify-attestation`.
func TestCosignInterop(t *testing.T) {
	cosign := cosignCLI(t)
	keys(t)
	ctx := context.Background()
	host := registrytest.StartDistribution(t)
	st, err := remote.New(host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "brickyard.pub")
	if err := os.WriteFile(pubPath, pubA, 0o644); err != nil {
		t.Fatal(err)
	}
	trustCosign := cosignKeyPair(t, cosign, dir)
	v, _ := artifact.ParseVersion("1.0.0")
	disk, err := registry.PushDisk(ctx, st, "interop-disk", writeRaw(t, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	image := publishManifest(t, st)
	artifacts := []*artifact.Artifact{
		{Name: "interop-ami", Kind: artifact.KindMachineImage, Version: v,
			MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}},
		{Name: "interop-disk", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{disk}},
		{Name: "interop-image", Kind: artifact.KindOCIImage, Version: v, Image: &image},
	}
	for _, a := range artifacts {
		t.Run(string(a.Kind), func(t *testing.T) {
			e, err := registry.Publish(ctx, st, a)
			if err != nil {
				t.Fatal(err)
			}
			ref := st.Identity(a.Name) + "@" + e.Descriptor.Digest.String()
			// brickyard signs, cosign verifies.
			if _, err := signerA.Sign(ctx, st, a.Name, st.Identity(a.Name), e.Descriptor); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(cosign, "verify", "--key", pubPath, "--insecure-ignore-tlog",
				"--allow-insecure-registry", "--allow-http-registry", ref).CombinedOutput()
			if err != nil {
				t.Fatalf("cosign verify of brickyard's signature: %v\n%s", err, out)
			}
			// cosign signs, brickyard verifies.
			cmd := exec.Command(cosign, "sign", "--yes", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false",
				"--allow-insecure-registry", "--allow-http-registry", ref)
			cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=cosign-pw")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cosign sign: %v\n%s", err, out)
			}
			got, err := sign.StoreVerifier{Store: st, Verifier: trustCosign}.Verify(ctx, catalog.Record{Name: a.Name, Repository: a.Name, Digest: e.Descriptor.Digest}.Stored())
			if err != nil {
				t.Fatalf("brickyard verify of cosign's signature: %v", err)
			}
			if got == "" {
				t.Error("no key id")
			}
			// Both signatures sit under the one cosign tag; brickyard's still verifies.
			if _, err := verifierA.Verify(ctx, st, a.Name, st.Identity(a.Name), e.Descriptor.Digest); err != nil {
				t.Errorf("brickyard's signature after cosign appended its own: %v", err)
			}

			// brickyard attests SLSA provenance, cosign verify-attestation accepts it.
			prov := sign.Provenance{BuilderID: "https://ci.example/packer", BuildType: "https://www.packer.io/build@v1",
				Source: "https://git.example/golden", Revision: "0123abcd",
				Dependencies: []sign.Dependency{{Name: "base@1.0.0", Digest: digest.FromString("base")}}}
			stmt, err := sign.ProvenanceStatement(st.Identity(a.Name), e.Descriptor.Digest, prov)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := signerA.Attest(ctx, st, a.Name, e.Descriptor, stmt); err != nil {
				t.Fatal(err)
			}
			out, err = exec.Command(cosign, "verify-attestation", "--key", pubPath, "--insecure-ignore-tlog",
				"--type", "slsaprovenance1", "--allow-insecure-registry", "--allow-http-registry", ref).CombinedOutput()
			if err != nil {
				t.Fatalf("cosign verify-attestation of brickyard's provenance: %v\n%s", err, out)
			}
			// cosign attests, brickyard verifies and reads the predicate.
			predPath := filepath.Join(dir, "predicate.json")
			pred := `{"buildDefinition":{"buildType":"https://www.packer.io/build@v1","externalParameters":{},` +
				`"resolvedDependencies":[{"name":"base","digest":{"sha256":"` + digest.FromString("base").Encoded() + `"}}]},` +
				`"runDetails":{"builder":{"id":"https://ci.example/cosign"}}}`
			if err := os.WriteFile(predPath, []byte(pred), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd = exec.Command(cosign, "attest", "--yes", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false",
				"--type", "slsaprovenance1", "--predicate", predPath, "--allow-insecure-registry", "--allow-http-registry", ref)
			cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=cosign-pw")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cosign attest: %v\n%s", err, out)
			}
			att, err := trustCosign.VerifyAttestation(ctx, st, a.Name, e.Descriptor.Digest, sign.PredicateSLSAProvenance)
			if err != nil {
				t.Fatalf("brickyard verify of cosign's attestation: %v", err)
			}
			p, err := sign.ParseProvenance(att.Statement)
			if err != nil {
				t.Fatal(err)
			}
			if p.BuilderID != "https://ci.example/cosign" || p.CheckLineage([]digest.Digest{digest.FromString("base")}) != nil {
				t.Errorf("cosign's provenance read as %+v", p)
			}
			// brickyard's own attestation still verifies beside cosign's.
			if _, err := verifierA.VerifyAttestation(ctx, st, a.Name, e.Descriptor.Digest, sign.PredicateSLSAProvenance); err != nil {
				t.Errorf("brickyard's attestation after cosign appended its own: %v", err)
			}
		})
	}
}

// TestCosignBundleInterop: an artifact that `cosign sign
// --new-bundle-format` signed (a Sigstore bundle attached as a referrer,
// no .sig tag) in a real distribution registry verifies with brickyard,
// bound to its digest, once sign/bundle is plugged in (WithBundles); a key
// cosign did not use is refused.
func TestCosignBundleInterop(t *testing.T) {
	cosign := cosignCLI(t)
	keys(t)
	ctx := context.Background()
	host := registrytest.StartDistribution(t)
	st, err := remote.New(host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trustCosign := cosignKeyPair(t, cosign, dir)
	v, _ := artifact.ParseVersion("2.0.0")
	e, err := registry.Publish(ctx, st, &artifact.Artifact{Name: "bundle-ami", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trustCosign.Verify(ctx, st, "bundle-ami", st.Identity("bundle-ami"), e.Descriptor.Digest); !errors.Is(err, sign.ErrUnsigned) {
		t.Fatalf("before signing: %v, want ErrUnsigned", err)
	}
	ref := st.Identity("bundle-ami") + "@" + e.Descriptor.Digest.String()
	cmd := exec.Command(cosign, "sign", "--yes", "--new-bundle-format", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false",
		"--allow-insecure-registry", "--allow-http-registry", ref)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=cosign-pw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign sign --new-bundle-format: %v\n%s", err, out)
	}
	// Without sign/bundle plugged in, a Verifier looks at cosign's .sig
	// tag only: a bundle-only artifact is unsigned to it.
	if _, err := trustCosign.Verify(ctx, st, "bundle-ami", st.Identity("bundle-ami"), e.Descriptor.Digest); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("bundle-only artifact, verifier without bundle support: %v, want ErrUnsigned", err)
	}
	withBundles := trustCosign.WithBundles(bundle.New(nil))
	got, err := withBundles.Verify(ctx, st, "bundle-ami", st.Identity("bundle-ami"), e.Descriptor.Digest)
	if err != nil || got.Digest != e.Descriptor.Digest {
		t.Fatalf("brickyard verify of cosign's bundle: %+v, %v", got, err)
	}
	if _, err := verifierA.WithBundles(bundle.New(nil)).Verify(ctx, st, "bundle-ami", st.Identity("bundle-ami"), e.Descriptor.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("cosign's bundle checked with another key: %v, want ErrUntrusted", err)
	}
}
