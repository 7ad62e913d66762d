// Package plan computes what a change of release does to the answers: for
// every steered name of either release and every network of the geo
// database (IPv4 networks asked A, IPv6 networks asked AAAA), which clients
// get another answer, whether another region, another set of addresses, or
// another fallback (fallback addresses, SERVFAIL, fail open), and how many
// networks and addresses that is, by move (from → to) and by country, with
// a few client subnets per move to try with dig. It is the engine of
// `aya diff`, the `terraform plan` of traffic; the Report renders as text
// (WriteText) or as JSON (WriteJSON, a stable documented format).
//
// A network's client is the one the DNS server answers for an ECS query of
// that network: policy.ECSClient, with the server's caps on client subnets
// (a network longer than the cap is answered for the capped subnet, placed
// where its first address is), decided by policy.Decide. The plan and the
// server share that code, so the plan cannot drift from what queries get.
//
// plan owns no release format, no configuration and no I/O besides the
// writer it renders to: the caller hands it two Sides (names and pools), a
// geo database and a state snapshot. It parallelises over networks and
// reads no clocks; a Report depends on its inputs only, not on the number
// of workers or the order they run in.
package plan
