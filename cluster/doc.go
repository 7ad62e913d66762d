// Package cluster owns the replicated decision state of AYA: the Raft FSM
// that holds every site's observations of every endpoint and the operators'
// drains, and derives from them, deterministically, the state.Snapshot that
// the DNS path reads through state.Source.
//
// The deterministic core is command encoding (Encode), the decision rules
// (Rules) and the FSM: it must not read a clock, use randomness or depend on
// map iteration order in anything it outputs: every node applies the same
// log and must reach the same state. Time comes from the leader-stamped time
// carried by every log entry. Node wraps the FSM in a hashicorp/raft node
// (TCP transport, raft-boltdb log and stable store, file snapshots); only
// the leader's Propose reads a clock, to stamp the entry.
//
// # Log entries
//
// An entry is one type byte followed by a JSON envelope {"at":unixnanos,"v":…}.
// A type byte with the IgnoreUnknown bit (0x80) set that this binary does not
// know is skipped, so an old binary survives a newer leader's new command. An
// unknown type without the bit, an entry of a known type that does not
// decode, or one stamped more than MaxClockAhead after the leader appended
// it is skipped too, and logged and counted as a *CorruptEntryError: every
// node holds the same bytes and skips them alike, so no node diverges and
// none crash-loops. Propose refuses all of these before they reach the log.
//
// # Decision rules
//
// Each endpoint is judged from the latest report of each site in
// Rules.Sites (all reporting sites when Sites is empty). A report is fresh
// when its time is within Rules.FreshFor of the newest leader time seen in
// the log (never the local clock). Among the fresh sites, a strict majority
// decides: up when more than half see the endpoint up, down when more than
// half see it down. An even split (1 up, 1 down of 2, as while a third site
// is still starting) keeps the last decision, so that one site's broken
// path cannot take an endpoint down, nor bring back one that the other half
// cannot reach. With no fresh report at all the endpoint also keeps its last
// decided state: a cluster cut off from its probes (or a quiet log) keeps
// answering from what it last knew rather than flapping everything down. A
// never-decided endpoint is up, as state.Snapshot's absent keys are.
//
// A region (pool, region) with fewer than Rules.MinUp[RegionKey] endpoints up
// (default 1; capped at the number of its endpoints known from observations,
// so a region does not flap down while its endpoints are being learned) is
// down: all its endpoints appear in Snapshot.Down, the up ones
// with the region's reason. Drains are independent of health and go to
// DrainedRegions / DrainedEndpoints as "reason (by who)".
package cluster
