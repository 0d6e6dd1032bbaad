// Package audit joins what a cloud holds with what the catalog says and
// reports findings, each with a stable rule id and a severity (Rules).
//
// AWS audits (AWS) list every image the account owns in each region, the
// public snapshots, the instances and launch-template versions that use
// images, the Image Block Public Access state, and public images of other
// owners whose names match the catalog's machine images (the whoAMI name
// squatting), then compare them with each artifact's lifecycle and
// visibility intent. Audits fail closed: a call that fails (access denied,
// throttling past the retry budget, a region that does not answer) is
// itself a finding, RuleCouldNotCheck, never silence.
//
// A Report prints as a table, JSON or SARIF 2.1.0 (WriteSARIF), and
// Report.Fails says whether it reaches a severity threshold.
package audit
