// Package policy decides, for one client and one pool, which region answers
// and with which addresses. Decide is a pure function: no I/O, no clocks, no
// goroutines, no globals. The DNS hot path, `aya explain` and the tests call
// the same code, so what explain prints is what the server answers.
package policy
