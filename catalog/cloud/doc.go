// Package cloud joins the catalog's machine-image artifacts with the
// clouds that hold them: it imports the AMIs an account already has as
// artifacts (Import), and makes catalog decisions reach the cloud (Syncer):
// a deprecation becomes EnableImageDeprecation, a revocation DisableImage
// and the removal of launch permissions, a retention delete a
// deregistration (images under deregistration protection are refused and
// reported) and the deletion of the snapshots the image alone used, and a
// visibility intent the exact launch and snapshot permissions. Every
// change made is an EventCloudAction in the catalog's log, with the API
// request id. RetentionDeleter is the machine-image deleter that
// catalog/retention's Apply uses for AWS.
//
// The cloud side is a set of small interfaces declared here; package
// registry/ec2 satisfies them for AWS. Index maps cloud image ids back to
// the catalog's records; catalog/audit uses it too.
package cloud
