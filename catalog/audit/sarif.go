package audit

import (
	"io"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// WriteSARIF writes the report as a SARIF 2.1.0 log (OASIS Static Analysis
// Results Interchange Format): one run of the tool "brickyard audit aws"
// with every rule (id, name, description, default level and severity) and
// one result per finding, located by a logical location naming the cloud
// resource ("aws:REGION:ID") and, if known, the artifact.
func (r Report) WriteSARIF(w io.Writer, toolVersion string) error {
	rep := sarif.NewReport()
	run := sarif.NewRunWithInformationURI("brickyard", "https://github.com/brickyard/brickyard")
	if toolVersion != "" {
		run.Tool.Driver.WithVersion(toolVersion)
	}
	for _, rule := range Rules {
		run.AddRule(rule.ID).WithName(rule.Name).WithDescription(rule.Description).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(rule.Severity.sarifLevel())).
			WithProperties(sarif.NewPropertyBag().Add("severity", rule.Severity.String()).AddTag("security"))
	}
	for _, f := range r.Findings {
		fqn := "aws:" + f.Region + ":" + f.Resource
		if f.Region == "" {
			fqn = "aws:" + f.Resource
		}
		loc := sarif.NewLocation().AddLogicalLocation(sarif.NewLogicalLocation().WithFullyQualifiedName(fqn).WithName(f.Resource).WithKind("resource"))
		if f.Artifact != "" {
			loc.AddLogicalLocation(sarif.NewLogicalLocation().WithFullyQualifiedName(f.Artifact).WithName(f.Artifact).WithKind("module"))
		}
		props := sarif.NewPropertyBag().Add("severity", f.Severity.String())
		if f.Region != "" {
			props.Add("region", f.Region)
		}
		if f.Digest != "" {
			props.Add("digest", f.Digest)
		}
		run.CreateResultForRule(f.Rule).WithLevel(f.Severity.sarifLevel()).WithMessage(sarif.NewTextMessage(f.Message)).
			AddLocation(loc).WithProperties(props)
	}
	if r.Account != "" {
		run.WithProperties(sarif.NewPropertyBag().Add("account", r.Account).Add("regions", r.Regions).Add("images", r.Images))
	}
	rep.AddRun(run)
	return rep.PrettyWrite(w)
}
