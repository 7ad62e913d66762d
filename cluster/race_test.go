//go:build race

package cluster

// raceScale divides the attack of the cluster tests under the race
// detector, which makes each read of the attackers' bytes ~10 times
// slower on a shared test machine.
const raceScale = 4
