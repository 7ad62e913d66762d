// Package dnssec signs AYA's zones ahead of time: keys (BIND-format key
// files), the NSEC chain, the RRSIGs of the static zone and of every answer
// a steered name can give, and the key rollover schedule. It runs on the
// signer only: the sites that answer carry signatures, never keys. It does
// no network I/O and reads no clock of its own (the time is an argument).
package dnssec
