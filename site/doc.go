// Package site runs what one AYA site runs besides its Raft node: it builds
// releases from the site's files and applies them to the cluster, compiles
// the release the cluster answers from into zones and pools and publishes
// it to the DNS server, and runs the site's probes and reporters.
//
// It is the importable part of `aya serve`: cmd/aya parses flags, wires
// these pieces and renders their output; the pieces themselves, and their
// tests, live here.
package site
