// Package aya holds what the whole module shares: the embedded default
// configuration and the build version.
package aya

import _ "embed"

// DefaultConfig is the repo's aya.yaml, used by `aya serve` and `aya check`
// when no --config is given.
//
//go:embed aya.yaml
var DefaultConfig []byte

// Version is set at build time with -ldflags "-X github.com/aya-gslb/aya.Version=…"
// (the Makefile: git describe --tags --always --dirty).
var Version = "dev"

// Commit is the git commit the binary was built from, set at build time
// with -ldflags "-X github.com/aya-gslb/aya.Commit=…". Empty means unknown:
// `aya version` then reads the one go build stamped (vcs.revision), if any.
var Commit = ""
