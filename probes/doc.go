// Package probes runs the health checks of endpoints from this site: HTTP,
// HTTPS and TCP, each on its own interval with jitter and a timeout, judged
// up or down with rise/fall thresholds, and reports the resulting state to a
// Reporter (the cluster, which combines the observations of every site).
//
// A Prober owns two goroutines per check, one that probes and one that
// reports: a change of state is reported at once, and the current state
// again Refresh after the last report, so a new leader hears everyone.
// Probing never waits for the Reporter, nor does one endpoint's report wait
// for another's. A report that fails (no leader yet, the old one gone) is
// retried after a backoff of 50ms doubling to 1s, with jitter, until it is
// delivered; each attempt sends the endpoint's latest observation, so a
// newer one supersedes the failed one and nothing queues.
//
// It owns the schema of a health check, CheckConfig: its keys (yaml
// tags), defaults (WithDefaults) and rules (Validate, whose field errors
// name the keys); config finds it in the file, decodes and positions it,
// and resolves its paths. It reads no file itself (it takes a Config
// struct, and a check's CA roots already loaded), decides nothing about
// answers (that is policy's, over the cluster's snapshot), and keeps no
// state beyond each check's last observation.
package probes
