// Package ec2 reaches the AMIs and EBS snapshots of AWS accounts through
// aws-sdk-go-v2: the default config chain (environment, shared config and
// profiles, SSO, web identity, instance roles), several regions per Client,
// and optionally a role assumed per account (stscreds). AMIs hold no blobs,
// so this is not a registry.Store: it implements the small interfaces the
// catalog's cloud sync (catalog/cloud), retention and audit (catalog/audit)
// declare — list and describe images with their snapshots, tag, read and
// set launch and create-volume permissions exactly, deprecate, disable,
// deregister (refusing images under deregistration protection) and delete
// the snapshots an image alone used.
//
// Every listing follows NextToken to the last page; every call goes
// through the SDK's standard retryer (throttling, 5xx and dropped
// connections, with a budget set by WithRetry). Changes return an Action
// with the API request id, for the catalog's event log. Subpackage ec2test
// runs moto and a fault-injecting proxy for tests.
package ec2
