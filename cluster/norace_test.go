//go:build !race

package cluster

// raceScale: see race_test.go.
const raceScale = 1
