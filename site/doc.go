// Package site runs what one AYA site runs besides its Raft node: it builds
// releases from the site's files and applies them to the cluster, compiles
// the release the cluster answers from into zones and pools and publishes
// it to the DNS server, and runs the site's probes and reporters.
//
// Where dnssec.keys_dir holds a zone's private keys (the signer), a build
// signs the zone and the site re-signs the running release before its
// signatures are due (signer.go); every site attaches the signatures a
// release carries to the zones it compiles (signed.go). No other site
// reads a private key.
//
// It is the importable part of `aya serve`: cmd/aya parses flags, wires
// these pieces and renders their output; the pieces themselves, and their
// tests, live here.
package site
