// Package modgraph tests the layering of the repository's Go modules: the
// requirement graph between the modules of go.work, as `go mod graph` reports
// it for each module on its own (GOWORK=off, test dependencies included), has
// no cycle. So plumbing (platform) and test support (testkit) never depend,
// even through their own tests, on a module that depends on them.
package modgraph
