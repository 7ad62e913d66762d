package site

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/release"
)

// The signer role: a site whose dnssec.keys_dir holds the private keys of
// a zone of the running release re-signs the release's content (its zone
// files and pools, never this site's own files) before the signatures'
// refresh time and at each key event (a key published, activated,
// retired, removed; a CDS added or dropped), and proposes the result
// through the cluster like any release. Every other site only attaches
// the signatures the release carries.

// resignJitter bounds how much before its due time a signer re-signs, at
// random (and never by more than dnssec.jitter), so that two members
// holding the keys rarely propose at once; the one that comes second finds
// the release re-signed and changes nothing (the same digest), or renews
// what the first left.
const resignJitter = 5 * time.Minute

// resignRetry is how long a failed re-sign waits before the next try.
const resignRetry = time.Minute

// signMetrics are the DNSSEC metrics of a site.
type signMetrics struct {
	signings  *prometheus.CounterVec
	made      *prometheus.CounterVec
	rollovers *prometheus.CounterVec
}

func (r *Site) dnssecMetrics() {
	r.sign.signings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dnssec_signings_total",
		Help: `Signings of a zone by this site (the signer role), by result: "success" (a release proposed with them, or unchanged) or "failure" (the running release keeps its signatures).`,
	}, []string{"zone", "result"})
	r.sign.made = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dnssec_signatures_made_total",
		Help: "Signatures made anew by this site's signings of a zone (the others were reused from the running release).",
	}, []string{"zone"})
	r.sign.rollovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dnssec_rollovers_total",
		Help: `Key rollovers this site (the signer role) started for a zone (dnssec.zsk_lifetime, dnssec.ksk_lifetime), by role (ZSK, KSK) and result ("success": the successor written to dnssec.keys_dir; "failure").`,
	}, []string{"zone", "role", "result"})
	r.reg.MustRegister(r.sign.signings, r.sign.made, r.sign.rollovers, &expiryCollector{r: r})
}

// expiryCollector reports the signatures of the release this site serves:
// every site, the signer or not, says when its signatures run out.
type expiryCollector struct{ r *Site }

var (
	expiresDesc = prometheus.NewDesc("aya_dnssec_signature_expiration_timestamp_seconds",
		"Earliest expiration of the signatures of a signed zone this site serves, in seconds since the Unix epoch: validators answer SERVFAIL for the zone after it, and only the signer can sign again.",
		[]string{"zone"}, nil)
	refreshDesc = prometheus.NewDesc("aya_dnssec_refresh_timestamp_seconds",
		"When the signer is due to re-sign a signed zone this site serves (its earliest signature expiration less dnssec.refresh), in seconds since the Unix epoch.",
		[]string{"zone"}, nil)
)

func (e *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiresDesc
	ch <- refreshDesc
}

func (e *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c := e.r.rel.Load()
	if c == nil {
		return
	}
	for _, z := range c.Release.Signed {
		ch <- prometheus.MustNewConstMetric(expiresDesc, prometheus.GaugeValue, float64(z.Expires.Unix()), z.Zone)
		ch <- prometheus.MustNewConstMetric(refreshDesc, prometheus.GaugeValue, float64(z.Refresh.Unix()), z.Zone)
	}
}

// touchSigner wakes the signer role: a release was published.
func (r *Site) touchSigner() {
	select {
	case r.published <- struct{}{}:
	default:
	}
}

// signed logs and counts the signings of a release this site proposed.
func (r *Site) signed(done []ZoneSigning, how string) {
	for _, s := range done {
		r.sign.signings.WithLabelValues(s.Zone, "success").Inc()
		r.sign.made.WithLabelValues(s.Zone).Add(float64(s.Made))
		r.log.Info("zone signed", "zone", s.Zone, "by", how, "serial", s.Serial, "made", s.Made, "reused", s.Reused,
			"expires", s.Expires.UTC().Format(time.RFC3339), "refresh", s.Refresh.UTC().Format(time.RFC3339))
	}
}

// resignDue is when the signer must sign c's zones again: the earliest
// refresh of its signed zones that this site holds keys of, or the next
// event of those keys, whichever comes first; now for a zone this site
// holds keys of that the release does not sign yet. Zero when this site
// signs none of c's zones.
func (r *Site) resignDue(c *Compiled, now time.Time) time.Time {
	var due time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	for _, z := range c.Zones.List() {
		keys, err := signerKeys(r.cur.Load().DNSSEC.KeysDir, z.Origin)
		if err != nil {
			earlier(now) // try, and say why it fails
			continue
		}
		if len(keys) == 0 {
			continue
		}
		sz := c.Release.SignedZone(z.Origin)
		if sz == nil {
			earlier(now)
			continue
		}
		earlier(sz.Refresh)
		for _, k := range keys {
			// A key event since the release was made: its DNSKEY, its
			// signatures or its CDS are to change.
			earlier(nextKeyEvent(k.Timing, c.Release.At))
		}
	}
	return due
}

// nextKeyEvent is the first event of t after since (zero: none).
func nextKeyEvent(t dnssec.Timing, since time.Time) time.Time {
	var next time.Time
	for _, e := range []time.Time{t.Publish, t.Activate, t.Inactive, t.Delete, t.SyncPublish, t.SyncDelete} {
		if e.After(since) && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	return next
}

// resign runs the signer role until ctx ends: it waits for the running
// release's re-sign time (resignDue, less a random part of resignJitter),
// signs the release's content and proposes it.
func (r *Site) resign(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastErr string
	for {
		wait := time.Hour
		if c := r.rel.Load(); c != nil {
			now := time.Now()
			r.rollKeys(c, now)
			if due := r.resignDue(c, now); !due.IsZero() {
				if j := min(resignJitter, r.cur.Load().DNSSEC.Jitter); j > 0 {
					// Early by up to the signer's jitter, within which
					// Sign renews what falls due anyway.
					due = due.Add(-rand.N(j))
				}
				if !due.After(now) {
					if err := r.resignNow(ctx, c, now); err != nil {
						if err.Error() != lastErr {
							r.log.Error("zones not re-signed; the running release keeps its signatures", "err", err)
						}
						lastErr = err.Error()
						wait = resignRetry
					} else {
						lastErr = ""
						wait = resignRetry // the release changes; changed wakes this first
					}
				} else {
					wait = min(due.Sub(now), time.Hour)
				}
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-r.published:
			timer.Stop() // Go 1.23 timers: no stale tick after Stop
		case <-timer.C:
		}
	}
}

// rollKeys starts the key rollovers that are due at now (dnssec.Due) for
// the zones of c this site holds the keys of: a ZSK (pre-publish) when its
// dnssec.zsk_lifetime ends within the pre-publication time plus
// dnssec.refresh, a KSK (double-DS) likewise with dnssec.ksk_lifetime and
// the parent's delay. The successor and the old key's new timing are
// written to dnssec.keys_dir (dnssec.WriteRoll); the re-sign that follows
// carries them out as their times come, like a rollover started by hand
// (aya dnssec rollover).
func (r *Site) rollKeys(c *Compiled, now time.Time) {
	cfg := r.cur.Load().DNSSEC
	for _, z := range c.Zones.List() {
		keys, err := signerKeys(cfg.KeysDir, z.Origin)
		if err != nil || len(keys) == 0 {
			continue // resignDue and the signing report what does not load
		}
		p := cfg.RollTimings(keys)
		for _, role := range dnssec.Due(keys, p, now, cfg.WithDefaults().Refresh) {
			old, succ, err := dnssec.Roll(keys, role, p, now)
			if err == nil {
				err = dnssec.WriteRoll(cfg.KeysDir, old, succ)
			}
			if err != nil {
				r.sign.rollovers.WithLabelValues(z.Origin, role.String(), "failure").Inc()
				r.log.Error("key rollover not started", "zone", z.Origin, "role", role.String(), "err", err)
				continue
			}
			r.sign.rollovers.WithLabelValues(z.Origin, role.String(), "success").Inc()
			r.log.Info("key rollover started", "zone", z.Origin, "role", role.String(), "key", old.Base(),
				"retires", old.Timing.Inactive, "successor", succ.Base(), "publish", succ.Timing.Publish, "activate", succ.Timing.Activate)
			keys, _ = signerKeys(cfg.KeysDir, z.Origin) // with the successor, for the next role
		}
	}
}

// resignNow signs c's content at now (reusing c's signatures) and proposes
// it; a release with the same digest (nothing to renew) changes nothing.
func (r *Site) resignNow(ctx context.Context, c *Compiled, now time.Time) error {
	cfg := r.cur.Load()
	rel, done, err := SignRelease(cfg, c, c, now)
	if err != nil {
		// Each zone this site signs, or would but its keys do not load
		// (a .private corrupted or unreadable): the failure is this site's.
		for _, z := range c.Zones.List() {
			if keys, kerr := signerKeys(cfg.DNSSEC.KeysDir, z.Origin); kerr != nil || len(keys) > 0 {
				r.sign.signings.WithLabelValues(z.Origin, "failure").Inc()
			}
		}
		return err
	}
	if rel.Digest == c.Release.Digest {
		return nil
	}
	next := *rel
	next.By, next.Source, next.Unsign, next.Resigns = whoAmI(cfg.Node.ID), "re-sign: "+cfg.Node.ID, nil, c.Release.Digest
	if _, err := r.comp.Compile(&next); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := r.node.ApplyRelease(actx, &next)
	if err != nil {
		for _, s := range done {
			r.sign.signings.WithLabelValues(s.Zone, "failure").Inc()
		}
		return err
	}
	r.signed(done, "re-sign")
	r.log.Info("release re-signed", "version", resp.Version, "digest", release.ShortDigest(resp.Digest), "unchanged", resp.Unchanged)
	return nil
}
