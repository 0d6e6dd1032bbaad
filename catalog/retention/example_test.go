package retention_test

import (
	"fmt"

	"github.com/brickyard/brickyard/catalog/retention"
)

func ExampleParsePolicy() {
	p, err := retention.ParsePolicy([]byte(`version: 1
rules:
  - names: ["web"]
    keep:
      newest_per_stream: 2
    delete:
      revoked_after: 7d
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Rules[0].Matches("web"), p.Rules[0].NewestPerStream, p.Rules[0].RevokedAfter)

	_, err = retention.ParsePolicy([]byte("version: 1\nrules:\n  - names: [web]\n    keep:\n      newest_per_major: 0\n"))
	fmt.Println(err)
	// Output:
	// true 2 168h0m0s
	// invalid retention policy: line 5: 0: want a number from 1 to 1000000
}
