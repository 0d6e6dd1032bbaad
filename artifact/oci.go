package artifact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The media types of Docker's image manifest v2 schema 2 and of its
// manifest list, which registries still serve for many container images;
// brickyard reads and copies them as it does the OCI image manifest and
// index.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Docker's image manifest schema 1, plain and signed: deprecated since
// 2017, not content-addressable as OCI is (its signature is part of the
// bytes), and refused.
const (
	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// MaxBlobSize is the largest size, in bytes, a descriptor of a blob (a
// config or a layer) may give: 4 TiB, more than any disk image brickyard
// carries and far less than what would overflow an offset. A descriptor
// of a manifest may give at most MaxManifestSize.
const MaxBlobSize = 1 << 42

// ErrInvalidOCI is wrapped by the errors of ParseOCI and
// ValidateManifestDescriptor: content that is not a valid OCI image
// manifest or index (or Docker schema 2 manifest or list), as opposed to a
// valid one that is not a brickyard artifact. It wraps ErrInvalidManifest.
var ErrInvalidOCI = fmt.Errorf("%w: not valid OCI", ErrInvalidManifest)

// OCIManifest is what ParseOCI reads of an image manifest or index.
type OCIManifest struct {
	MediaType    string               // never empty: as pushed or served, else the mediaType field, else inferred
	ArtifactType string               // may be empty
	Config       *ocispec.Descriptor  // an image manifest's; nil for an index
	Layers       []ocispec.Descriptor // an image manifest's
	Manifests    []ocispec.Descriptor // an index's
	Subject      *ocispec.Descriptor  // may be nil
	Annotations  map[string]string
}

// References returns the descriptors m needs present in a repository
// before it is stored there: the config, the layers and the manifests, in
// that order. The subject is not among them: the OCI distribution spec
// allows it to be elsewhere.
func (m *OCIManifest) References() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	return append(out, m.Manifests...)
}

// IsManifestMediaType reports whether mediaType is one of the manifest and
// index media types brickyard reads: the OCI image manifest and index, and
// Docker's schema 2 manifest and manifest list.
func IsManifestMediaType(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// IsIndexMediaType reports whether mediaType is the OCI image index or the
// Docker manifest list.
func IsIndexMediaType(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// ValidateManifestDescriptor checks a descriptor that names a manifest or
// index before it is fetched: a media type IsManifestMediaType accepts
// (Docker schema 1 is refused by name), a sha256 digest that parses, and a
// size from 0 to MaxManifestSize bytes. Errors wrap ErrInvalidOCI, and
// ErrTooLarge for a size over the limit.
func ValidateManifestDescriptor(d ocispec.Descriptor) error {
	if err := manifestMediaType(d.MediaType); err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return checkOCIDescriptor("manifest", d, MaxManifestSize)
}

func manifestMediaType(mt string) error {
	switch {
	case mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1Signed:
		return fmt.Errorf("%w: media type %q is Docker image manifest schema 1, deprecated and not supported (convert the image to schema 2 or OCI)", ErrInvalidOCI, mt)
	case mt == "":
		return fmt.Errorf("%w: descriptor has no mediaType", ErrInvalidOCI)
	case !IsManifestMediaType(mt):
		return fmt.Errorf("%w: media type %q is not a manifest or index media type brickyard reads", ErrInvalidOCI, mt)
	}
	return nil
}

// ParseOCI checks b, a manifest or index served or pushed as mediaType
// ("" if unknown), against the OCI image spec v1.1 (§image-manifest,
// §image-index, §descriptor) and returns what it references. It refuses,
// with errors wrapping ErrInvalidOCI (and ErrTooLarge for sizes):
//
//   - more than MaxManifestSize bytes, anything but one JSON object, or a
//     key repeated in an object (compared without case, as Go's
//     encoding/json matches them): parsers that take the first and the
//     last would read two different manifests;
//   - Docker schema 1 (by media type or schemaVersion 1), or a
//     schemaVersion other than 2, or a media type IsManifestMediaType
//     refuses;
//   - a mediaType field that differs from mediaType, and an image manifest
//     with a manifests field or an index with a config or layers field:
//     the media-type confusion of CVE-2021-41190;
//   - an image manifest without a config, an index without manifests;
//   - a descriptor without a mediaType, with a digest that does not parse
//     or is not sha256, with a negative size or one over MaxBlobSize
//     (MaxManifestSize for a manifest in an index and for a subject), with
//     embedded data whose length or digest disagree with it, or with the
//     empty descriptor's media type (application/vnd.oci.empty.v1+json) and
//     another size or digest than "{}".
func ParseOCI(mediaType string, b []byte) (*OCIManifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest of %d bytes: %w: %w (limit %d)", len(b), ErrInvalidOCI, ErrTooLarge, MaxManifestSize)
	}
	if mediaType != "" {
		if err := manifestMediaType(mediaType); err != nil {
			return nil, err
		}
	}
	if err := checkKeys(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOCI, err)
	}
	var raw struct {
		SchemaVersion *int              `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		ArtifactType  string            `json:"artifactType"`
		Config        json.RawMessage   `json:"config"`
		Layers        json.RawMessage   `json:"layers"`
		Manifests     json.RawMessage   `json:"manifests"`
		Subject       json.RawMessage   `json:"subject"`
		Annotations   map[string]string `json:"annotations"`
		// Docker schema 1 fields, to name what is refused.
		FSLayers   json.RawMessage `json:"fsLayers"`
		Signatures json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOCI, err)
	}
	switch {
	case raw.SchemaVersion != nil && *raw.SchemaVersion == 1, present(raw.FSLayers), present(raw.Signatures):
		return nil, fmt.Errorf("%w: Docker image manifest schema 1, deprecated and not supported (convert the image to schema 2 or OCI)", ErrInvalidOCI)
	case raw.SchemaVersion == nil || *raw.SchemaVersion != 2:
		return nil, fmt.Errorf("%w: schemaVersion must be 2", ErrInvalidOCI)
	}
	m := &OCIManifest{MediaType: mediaType, ArtifactType: raw.ArtifactType, Annotations: raw.Annotations}
	switch {
	case raw.MediaType != "" && mediaType != "" && raw.MediaType != mediaType:
		return nil, fmt.Errorf("%w: mediaType field %q, but served or pushed as %q (media-type confusion, CVE-2021-41190)", ErrInvalidOCI, raw.MediaType, mediaType)
	case mediaType == "" && raw.MediaType != "":
		if err := manifestMediaType(raw.MediaType); err != nil {
			return nil, err
		}
		m.MediaType = raw.MediaType
	case mediaType == "" && present(raw.Manifests):
		m.MediaType = ocispec.MediaTypeImageIndex
	case mediaType == "":
		m.MediaType = ocispec.MediaTypeImageManifest
	}
	if IsIndexMediaType(m.MediaType) {
		if present(raw.Config) || present(raw.Layers) {
			return nil, fmt.Errorf("%w: an index (%s) with a config or layers (media-type confusion, CVE-2021-41190)", ErrInvalidOCI, m.MediaType)
		}
		if !present(raw.Manifests) {
			return nil, fmt.Errorf("%w: an index (%s) without manifests", ErrInvalidOCI, m.MediaType)
		}
		if err := json.Unmarshal(raw.Manifests, &m.Manifests); err != nil {
			return nil, fmt.Errorf("%w: manifests: %v", ErrInvalidOCI, err)
		}
		for i, d := range m.Manifests {
			what := fmt.Sprintf("manifests[%d]", i)
			if d.MediaType == mediaTypeDockerSchema1 || d.MediaType == mediaTypeDockerSchema1Signed {
				return nil, fmt.Errorf("%s: %w", what, manifestMediaType(d.MediaType))
			}
			// An index may list content of media types it does not know
			// (image-spec §image-index); a manifest's size is bounded.
			limit := int64(MaxBlobSize)
			if IsManifestMediaType(d.MediaType) {
				limit = MaxManifestSize
			}
			if err := checkOCIDescriptor(what, d, limit); err != nil {
				return nil, err
			}
		}
	} else {
		if present(raw.Manifests) {
			return nil, fmt.Errorf("%w: an image manifest (%s) with manifests (media-type confusion, CVE-2021-41190)", ErrInvalidOCI, m.MediaType)
		}
		if !present(raw.Config) {
			return nil, fmt.Errorf("%w: an image manifest (%s) without a config", ErrInvalidOCI, m.MediaType)
		}
		m.Config = new(ocispec.Descriptor)
		if err := json.Unmarshal(raw.Config, m.Config); err != nil {
			return nil, fmt.Errorf("%w: config: %v", ErrInvalidOCI, err)
		}
		if err := checkOCIDescriptor("config", *m.Config, MaxBlobSize); err != nil {
			return nil, err
		}
		if present(raw.Layers) {
			if err := json.Unmarshal(raw.Layers, &m.Layers); err != nil {
				return nil, fmt.Errorf("%w: layers: %v", ErrInvalidOCI, err)
			}
		}
		for i, d := range m.Layers {
			if err := checkOCIDescriptor(fmt.Sprintf("layers[%d]", i), d, MaxBlobSize); err != nil {
				return nil, err
			}
		}
	}
	if present(raw.Subject) {
		m.Subject = new(ocispec.Descriptor)
		if err := json.Unmarshal(raw.Subject, m.Subject); err != nil {
			return nil, fmt.Errorf("%w: subject: %v", ErrInvalidOCI, err)
		}
		if err := checkOCIDescriptor("subject", *m.Subject, MaxManifestSize); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// present reports whether a field was given a value other than null.
func present(f json.RawMessage) bool { return len(f) > 0 && string(f) != "null" }

// emptyJSON is the empty descriptor's content, "{}".
var emptyJSON = ocispec.DescriptorEmptyJSON

// checkOCIDescriptor checks d, the descriptor what of a manifest, per OCI
// image-spec §descriptor; see ParseOCI.
func checkOCIDescriptor(what string, d ocispec.Descriptor, limit int64) error {
	if d.MediaType == "" {
		return fmt.Errorf("%w: %s has no mediaType", ErrInvalidOCI, what)
	}
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %s digest %q: %v", ErrInvalidOCI, what, d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: %s digest %s: algorithm %s is not supported (want sha256)", ErrInvalidOCI, what, d.Digest, d.Digest.Algorithm())
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s %s has a negative size, %d", ErrInvalidOCI, what, d.Digest, d.Size)
	}
	if d.Size > limit {
		return fmt.Errorf("%s %s of %d bytes: %w: %w (limit %d)", what, d.Digest, d.Size, ErrInvalidOCI, ErrTooLarge, limit)
	}
	if d.Data != nil && (int64(len(d.Data)) != d.Size || digest.FromBytes(d.Data) != d.Digest) {
		return fmt.Errorf("%w: %s %s: its embedded data (%d bytes) is not the content it names (%d bytes)", ErrInvalidOCI, what, d.Digest, len(d.Data), d.Size)
	}
	if d.MediaType == emptyJSON.MediaType && (d.Size != emptyJSON.Size || d.Digest != emptyJSON.Digest) {
		return fmt.Errorf("%w: %s of media type %s must be \"{}\" (%s, 2 bytes), not %s of %d bytes", ErrInvalidOCI, what, emptyJSON.MediaType, emptyJSON.Digest, d.Digest, d.Size)
	}
	return nil
}

// checkKeys checks that b is one JSON object with nothing after it, in
// which no object repeats a key (compared without case).
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// maxDepth bounds the nesting of objects and arrays checkKeys follows:
// a manifest nests four deep (annotations of a descriptor of a list).
const maxDepth = 32

// checkObject reads the rest of an object whose '{' dec has just read, at
// nesting depth depth.
func checkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := strings.ToLower(tok.(string))
		if seen[key] {
			return fmt.Errorf("key %q appears twice in one object", tok)
		}
		seen[key] = true
		if err := checkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// checkValue reads one value inside a container at depth.
func checkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if (tok == json.Delim('{') || tok == json.Delim('[')) && depth >= maxDepth {
		return fmt.Errorf("nested more than %d deep", maxDepth)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, depth+1)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}
