package ec2_test

import (
	"fmt"

	"github.com/brickyard/brickyard/registry/ec2"
)

// A catalog visibility intent becomes launch permissions; what an AMI
// grants beyond it is what an audit reports.
func ExampleParsePrincipals() {
	intent, err := ec2.ParsePrincipals(false, []string{"aws:111111111111", "registry.example/team"})
	if err != nil {
		panic(err)
	}
	actual := ec2.Permissions{Public: true, Accounts: []string{"111111111111", "222222222222"}}
	fmt.Println(intent)
	fmt.Println(actual.Beyond(intent))
	// Output:
	// accounts 111111111111
	// public; accounts 222222222222
}
