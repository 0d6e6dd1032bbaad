package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// ErrInvalidSeverity is returned by ParseSeverity.
var ErrInvalidSeverity = errors.New("invalid severity")

// Severity orders findings: Info < Low < Medium < High < Critical.
type Severity int

// Severities.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
	Critical
)

var severityNames = map[Severity]string{Info: "info", Low: "low", Medium: "medium", High: "high", Critical: "critical"}

func (s Severity) String() string { return severityNames[s] }

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity reads "info", "low", "medium", "high" or "critical"
// (case-insensitive); anything else wraps ErrInvalidSeverity.
func ParseSeverity(s string) (Severity, error) {
	for k, v := range severityNames {
		if strings.EqualFold(s, v) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("severity %q: %w (want info, low, medium, high or critical)", s, ErrInvalidSeverity)
}

// sarifLevel maps a severity to SARIF's result level.
func (s Severity) sarifLevel() string {
	switch {
	case s >= High:
		return "error"
	case s == Medium:
		return "warning"
	}
	return "note"
}

// Rule is one check. Its ID is stable across releases: reports, SARIF
// baselines and suppressions refer to it.
type Rule struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Severity    Severity `json:"severity"`
	Description string   `json:"description"`
}

// Rule ids.
const (
	RuleCouldNotCheck           = "BY-AWS-000"
	RulePublicUnintended        = "BY-AWS-001"
	RuleSharedBeyondIntent      = "BY-AWS-002"
	RuleSnapshotPublic          = "BY-AWS-003"
	RuleSnapshotWider           = "BY-AWS-004"
	RuleRevokedShared           = "BY-AWS-005"
	RuleRevokedInUse            = "BY-AWS-006"
	RuleDeprecatedShared        = "BY-AWS-007"
	RuleDeprecatedInUse         = "BY-AWS-008"
	RuleUnknownImage            = "BY-AWS-009"
	RuleImageGone               = "BY-AWS-010"
	RuleUnsigned                = "BY-AWS-011"
	RuleBlockPublicAccessOff    = "BY-AWS-012"
	RuleNameSquatting           = "BY-AWS-013"
	RuleRevokedNotDisabled      = "BY-AWS-014"
	RuleDeprecatedNotInTheCloud = "BY-AWS-015"
)

// Rules is every rule, by id.
var Rules = []Rule{
	{RuleCouldNotCheck, "could-not-check", High, "A call the audit needs failed (access denied, throttling past the retry budget, a region that does not answer): what it would have checked is unknown. The audit fails closed."},
	{RulePublicUnintended, "ami-public-unintended", Critical, "The AMI is public (launch permission group all) but its artifact's visibility intent is not public, or it is unknown to the catalog."},
	{RuleSharedBeyondIntent, "ami-shared-beyond-intent", High, "The AMI's launch permissions name accounts, organizations or units its visibility intent does not."},
	{RuleSnapshotPublic, "snapshot-public", Critical, "A snapshot backing the AMI is public (create-volume permission group all) while the AMI's intent is not public: anyone can copy the disk."},
	{RuleSnapshotWider, "snapshot-shared-wider-than-ami", High, "A snapshot backing the AMI grants create-volume permission to accounts the AMI's intent does not."},
	{RuleRevokedShared, "revoked-still-shared", High, "The artifact is revoked but its AMI is still public or shared."},
	{RuleRevokedInUse, "revoked-in-use", High, "The artifact is revoked but instances or launch-template versions still use its AMI."},
	{RuleDeprecatedShared, "deprecated-still-shared", Low, "The artifact is deprecated and its AMI is still public or shared."},
	{RuleDeprecatedInUse, "deprecated-in-use", Medium, "The artifact is deprecated but instances or launch-template versions still use its AMI."},
	{RuleUnknownImage, "ami-unknown", Medium, "The account owns an AMI the catalog does not know (sprawl): no owner, version, lineage or intent."},
	{RuleImageGone, "record-image-gone", Medium, "The catalog records an AMI that the account no longer has."},
	{RuleUnsigned, "artifact-unsigned", Medium, "A machine-image artifact whose AMIs exist has no signature in the catalog."},
	{RuleBlockPublicAccessOff, "image-block-public-access-off", Medium, "Image Block Public Access is off in the region: any AMI can be made public."},
	{RuleNameSquatting, "name-squatting", High, "A public AMI of another owner has a name matching one of the catalog's machine images (whoAMI): a lookup by name without an owner would pick it."},
	{RuleRevokedNotDisabled, "revoked-not-disabled", Medium, "The artifact is revoked but its AMI is not disabled: it can still be launched by its owner."},
	{RuleDeprecatedNotInTheCloud, "deprecated-not-in-cloud", Low, "The artifact is deprecated but its AMI has no deprecation time: EC2 still lists it to everyone."},
}

// RuleByID returns the rule with id.
func RuleByID(id string) (Rule, bool) {
	i := slices.IndexFunc(Rules, func(r Rule) bool { return r.ID == id })
	if i < 0 {
		return Rule{}, false
	}
	return Rules[i], true
}

// Finding is one thing an audit found.
type Finding struct {
	Rule     string   `json:"rule"` // a Rule's ID
	Name     string   `json:"name"` // the rule's name
	Severity Severity `json:"severity"`
	Region   string   `json:"region,omitempty"`
	// Resource is what the finding is about: an image or snapshot id, a
	// region, an artifact.
	Resource string `json:"resource"`
	Artifact string `json:"artifact,omitempty"` // NAME@VERSION, if known
	Digest   string `json:"digest,omitempty"`
	Message  string `json:"message"`
}

func finding(rule, region, resource, msg string) Finding {
	r, ok := RuleByID(rule)
	if !ok {
		panic("audit: unknown rule " + rule)
	}
	return Finding{Rule: rule, Name: r.Name, Severity: r.Severity, Region: region, Resource: resource, Message: msg}
}

// Report is the outcome of an audit.
type Report struct {
	Account  string    `json:"account,omitempty"`
	Regions  []string  `json:"regions"`
	Images   int       `json:"images"` // own images checked
	Findings []Finding `json:"findings"`
}

// sort orders findings by severity (highest first), rule, region,
// resource and message, so reports of one state are identical.
func (r *Report) sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		for _, c := range [][2]string{{a.Rule, b.Rule}, {a.Region, b.Region}, {a.Resource, b.Resource}, {a.Message, b.Message}} {
			if x := strings.Compare(c[0], c[1]); x != 0 {
				return x
			}
		}
		return 0
	})
}

// Max returns the highest severity found, 0 if none.
func (r Report) Max() Severity {
	var m Severity
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m
}

// Fails says whether a finding is at or above threshold.
func (r Report) Fails(threshold Severity) bool { return r.Max() >= threshold }

// WriteTable prints the findings as an aligned table.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tREGION\tRESOURCE\tARTIFACT\tMESSAGE")
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", f.Severity, f.Rule, f.Name, dash(f.Region), f.Resource, dash(f.Artifact), f.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d findings; %d images checked in %s\n", len(r.Findings), r.Images, strings.Join(r.Regions, ", "))
	return err
}

// WriteJSON prints the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
