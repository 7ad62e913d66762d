// Package probes runs the health checks of endpoints from this site: HTTP,
// HTTPS and TCP, each on its own interval with jitter and a timeout, judged
// up or down with rise/fall thresholds, and reports the resulting state to a
// Reporter (the cluster, which combines the observations of every site).
//
// A Prober owns one goroutine per check and one that reports: a change of
// state is reported at once, and every endpoint's current state again every
// Refresh, so a new leader hears everyone. Probing never waits for the
// Reporter; a failed report is logged and retried at the next refresh.
//
// It owns no configuration format (it takes a Config struct), decides
// nothing about answers (that is policy's, over the cluster's snapshot), and
// keeps no state beyond each check's last observation.
package probes
