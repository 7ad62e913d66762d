package site

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/backoff"
	"github.com/aya-gslb/aya/proxy"
)

// NewLoadReporter returns the reporter of p's load, to proxy.report_to, or
// to this node's own admin API when p runs inside aya serve.
func NewLoadReporter(cfg *config.Config, p *proxy.Proxy, client *cluster.Client, log *slog.Logger) *LoadReporter {
	addrs := cfg.Proxy.ReportTo
	if len(addrs) == 0 && len(cfg.DNS.Listen) > 0 && cfg.Admin.Listen != "" {
		addrs = []string{cfg.Admin.Listen} // a role of aya serve: its own node
	}
	return &LoadReporter{
		load: p.Load, region: cfg.Proxy.Region, id: cfg.Node.ID, addrs: addrs,
		interval: cfg.Proxy.ReportInterval, client: client, log: log,
	}
}

// LoadReporter reports the proxy's load to the cluster: when utilisation
// moved by reportDelta since the last report, else every refresh, so the
// report stays fresh without filling the log. A report that fails is
// retried after loadRetry with the load read afresh (a newer load
// supersedes the one that failed), not at the next interval.
type LoadReporter struct {
	load     func() proxy.Load
	region   string
	id       string
	addrs    []string
	interval time.Duration
	client   *cluster.Client
	log      *slog.Logger

	next     int // the address to try first
	last     float64
	lastSent time.Time
}

const (
	reportDelta   = 0.05 // utilisation change that is reported at once
	reportRefresh = 5    // report at least every reportRefresh intervals
)

// loadRetry is the backoff between the attempts of a load report that
// failed, the prober's: 50ms doubling to 1s.
var loadRetry = backoff.Policy{Base: 50 * time.Millisecond, Max: time.Second}

// Run reports until ctx ends.
func (r *LoadReporter) Run(ctx context.Context) {
	if len(r.addrs) == 0 {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	failures := 0 // consecutive failed reports
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-again.C:
		}
		l := r.load()
		if failures == 0 && math.Abs(l.Utilisation-r.last) < reportDelta && time.Since(r.lastSent) < reportRefresh*r.interval {
			continue
		}
		err := r.send(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if failures == 1 {
				r.log.Warn("load report failed; retrying", "err", err)
			}
			// Jitter needs no secure randomness, only a spread of load.
			again.Reset(loadRetry.Delay(failures, rand.Float64())) //nolint:gosec // G404: see above
			continue
		}
		if failures > 0 {
			r.log.Info("load report delivered", "attempts", failures+1)
		}
		failures = 0
		again.Stop()
		r.last, r.lastSent = l.Utilisation, time.Now()
	}
}

// send posts a load report to the first member that takes it.
func (r *LoadReporter) send(ctx context.Context, l proxy.Load) error {
	v, err := json.Marshal(cluster.LoadReport{
		Region: r.region, Reporter: r.id, InFlight: l.InFlight, Capacity: l.Capacity,
		RPS: l.RPS, P99Micros: l.P99.Microseconds(),
	})
	if err != nil {
		return err
	}
	var errs []error
	for range r.addrs {
		addr := r.addrs[r.next%len(r.addrs)]
		cctx, cancel := context.WithTimeout(ctx, r.interval)
		err := r.client.Do(cctx, addr, cluster.PathApply, "", cluster.ApplyRequest{Type: cluster.CmdLoad, V: v}, nil)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		r.next++
	}
	return fmt.Errorf("every member refused: %v", errs)
}
