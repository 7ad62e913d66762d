// Package balance holds the load-balancing algorithms of the proxy: which
// backend of a pool gets the next request. A Balancer also keeps each
// backend's live state that the algorithms need (in-flight requests,
// response-time EWMA, health, slow-start scale), updated by the proxy.
//
// Every method is safe for concurrent use and Pick does not allocate.
package balance

import "time"

// Algorithm names, as written in the configuration.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin" // smooth weighted round robin (nginx's)
	LeastConn          = "least_conn"
	WeightedLeastConn  = "weighted_least_conn"
	IPHash             = "ip_hash"
	ConsistentHash     = "consistent_hash" // on a header or cookie value
	LeastTime          = "least_time"      // EWMA of response time, power of two choices
	Random             = "random"
)

// Algorithms lists the algorithm names, in documentation order.
var Algorithms = []string{RoundRobin, WeightedRoundRobin, LeastConn, WeightedLeastConn, IPHash, ConsistentHash, LeastTime, Random}

// Backend is a backend as the balancer sees it.
type Backend struct {
	// Name is unique within the pool.
	Name string
	// Weight is at least 1.
	Weight int
	// MaxConns caps its in-flight requests; 0: no cap. A backend at its
	// cap is not picked.
	MaxConns int
}

// Balancer picks backends of one pool.
type Balancer interface {
	// Pick returns the index of the backend for a request, or -1 when no
	// backend is usable. key is the hash key (the client address's bytes
	// for ip_hash, the header or cookie value for consistent_hash; others
	// ignore it; an empty key hashes like any other). tried lists backends
	// already tried for this request (retries), which are skipped while
	// any other is usable.
	Pick(key []byte, tried []int) int
	// Usable reports whether backend i is up and under its connection cap
	// (for a sticky session's backend).
	Usable(i int) bool
	// Start and Done bracket a request sent to backend i; Done records
	// its latency (least_time) and whether it succeeded.
	Start(i int)
	Done(i int, latency time.Duration, ok bool)
	// TryStart is Start if backend i is usable, decided atomically against
	// other TryStarts, and reports whether it started: Pick then Start can
	// overshoot MaxConns when requests race between the two, Pick then
	// TryStart (Pick again when it fails) cannot.
	TryStart(i int) bool
	// SetUp marks backend i up or down (active health checks and passive
	// ejection both go through it). A down backend is not picked.
	SetUp(i int, up bool)
	// SetScale scales backend i's weight by s in (0, 1] (slow start of a
	// backend that came back); 1 is full weight.
	SetScale(i int, s float64)
	// InFlight is backend i's number of requests in flight.
	InFlight(i int) int64
	// Backends returns the pool's backends, in configuration order.
	Backends() []Backend
}
