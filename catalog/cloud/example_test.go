package cloud_test

import (
	"fmt"

	"github.com/brickyard/brickyard/catalog/cloud"
)

// An AMI without brickyard tags gets its artifact name and version from
// its name.
func ExampleParseImageName() {
	name, v, ok := cloud.ParseImageName("Web Server_v2.1.0-rc.1")
	fmt.Println(name, v, ok)
	_, _, ok = cloud.ParseImageName("packer_1733212345")
	fmt.Println(ok)
	// Output:
	// web-server 2.1.0-rc.1 true
	// false
}
