package audit_test

import (
	"fmt"

	"github.com/brickyard/brickyard/catalog/audit"
)

// Rules have stable ids; --fail-on compares severities.
func ExampleRuleByID() {
	r, _ := audit.RuleByID(audit.RuleNameSquatting)
	fmt.Println(r.ID, r.Name, r.Severity)
	s, _ := audit.ParseSeverity("HIGH")
	fmt.Println(r.Severity >= s)
	// Output:
	// BY-AWS-013 name-squatting high
	// true
}
