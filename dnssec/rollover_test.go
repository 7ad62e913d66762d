package dnssec

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// world is the zone's keys over time, and what a resolver may have cached.
type world struct {
	keys []*Key
	p    Timings
	memo map[time.Time]view // cleared when keys change
}

// view is what matters of a Status to the resolver model.
type view struct{ ds, keySigners, zoneSigners, dnskey []uint16 }

func (w *world) at(t time.Time) view {
	if v, ok := w.memo[t]; ok {
		return v
	}
	st := StatusAt(w.keys, t)
	v := view{dsTags(st), tags(st.KeySigners), tags(st.ZoneSigners), published(st)}
	if w.memo == nil {
		w.memo = map[time.Time]view{}
	}
	w.memo[t] = v
	return v
}

// tags returns the key tags of ks.
func tags(ks []*Key) []uint16 {
	out := make([]uint16, 0, len(ks))
	for _, k := range ks {
		out = append(out, k.Tag())
	}
	return out
}

func published(st Status) []uint16 {
	out := []uint16{}
	for _, rr := range st.DNSKEY {
		out = append(out, rr.(*dns.DNSKEY).KeyTag())
	}
	return out
}

func dsTags(st Status) []uint16 {
	out := []uint16{}
	for _, ds := range st.DS {
		out = append(out, ds.KeyTag)
	}
	return out
}

func intersects(a, b []uint16) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// validates reports whether a resolver validates a signed answer at t
// whatever it cached: a DS RRset fetched from the parent up to DSTTL ago
// (the parent carries a DS ParentDelay after the zone asks for it, and
// drops it ParentDelay after the zone stops asking), a DNSKEY RRset
// fetched up to DNSKEYTTL ago from a site up to Propagation behind, and
// an RRSIG fetched up to MaxTTL ago from such a site.
func (w *world) validates(t time.Time, step time.Duration) error {
	var dsAt, keysAt, sigsAt []time.Time
	for d := time.Duration(0); d <= w.p.DSTTL; d += step {
		dsAt = append(dsAt, t.Add(-d-w.p.ParentDelay))
	}
	for d := time.Duration(0); d <= w.p.DNSKEYTTL+w.p.Propagation; d += step {
		keysAt = append(keysAt, t.Add(-d))
	}
	for d := time.Duration(0); d <= w.p.MaxTTL+w.p.Propagation; d += step {
		sigsAt = append(sigsAt, t.Add(-d))
	}
	for _, tk := range keysAt {
		zk := w.at(tk)
		for _, td := range dsAt {
			if parent := w.at(td).ds; !intersects(parent, zk.keySigners) {
				return fmt.Errorf("DS RRset %v (from %v) matches none of the DNSKEY signers %v (from %v)", parent, td, zk.keySigners, tk)
			}
		}
		for _, ts := range sigsAt {
			if zs := w.at(ts); !intersects(zs.zoneSigners, zk.dnskey) {
				return fmt.Errorf("RRSIG by %v (from %v) is not in the DNSKEY RRset %v (from %v)", zs.zoneSigners, ts, zk.dnskey, tk)
			}
		}
	}
	return nil
}

// TestRolloverCycle runs the schedule over 200 days on a fake clock, an
// hour a step: the signer (this loop) rolls what Due names, with Roll
// (RollZSK, RollKSK), a week before a key's rollover must start, and at
// every hour a resolver with
// any mix of cached DS, DNSKEY and RRSIG validates. Every key goes
// through its phases in order, and the DS to publish follows the
// double-DS steps.
func TestRolloverCycle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Timings{
		Propagation: time.Hour, MaxTTL: 2 * time.Hour, DNSKEYTTL: time.Hour,
		DSTTL: 24 * time.Hour, ParentDelay: 24 * time.Hour,
		ZSKLifetime: 30 * 24 * time.Hour, KSKLifetime: 90 * 24 * time.Hour,
	}
	long := t0.Add(-60 * 24 * time.Hour)
	ksk, err := Generate(testOrigin, dns.ECDSAP256SHA256, KSK, Timing{Created: long, Publish: long, Activate: long, SyncPublish: long, Inactive: t0.Add(40 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := Generate(testOrigin, dns.ECDSAP256SHA256, ZSK, Timing{Created: long, Publish: long, Activate: t0.Add(-20 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{keys: []*Key{ksk, zsk}, p: p}
	const step = time.Hour
	lead := 7 * 24 * time.Hour
	phases := map[uint16][]Phase{}
	dsSeen := map[string]bool{}
	rolls := map[Role]int{}
	end := t0.Add(200 * 24 * time.Hour)
	for now := t0; now.Before(end); now = now.Add(step) {
		st := StatusAt(w.keys, now)
		if len(st.Problems) > 0 {
			t.Fatalf("%v: %v", now, st.Problems)
		}
		// The signer: every hour, it rolls each role that Due names (a
		// key with a week more than the rollover's lead time left).
		for _, role := range []Role{ZSK, KSK} {
			if n := len(signingKeys(st, role)); n != 1 {
				t.Fatalf("%v: %d %s sign", now, n, role)
			}
		}
		for _, role := range Due(w.keys, p, now, lead) {
			old, succ, err := Roll(w.keys, role, p, now)
			if err != nil {
				t.Fatalf("%v: %v", now, err)
			}
			for i, k := range w.keys {
				if k.Tag() == old.Tag() {
					w.keys[i] = old
				}
			}
			w.keys = append(w.keys, succ)
			w.memo = nil
			rolls[role]++
			if again := Due(w.keys, p, now, lead); slices.Contains(again, role) {
				t.Fatalf("%v: %s still due right after its rollover", now, role)
			}
			if _, _, err := Roll(w.keys, role, p, now); err == nil {
				t.Fatalf("%v: a second %s rollover started while one is under way", now, role)
			}
		}
		if now.Sub(t0) >= 2*24*time.Hour {
			if err := w.validates(now, step); err != nil {
				t.Fatalf("%v: %v", now, err)
			}
		}
		st = StatusAt(w.keys, now)
		if len(st.DNSKEY) > 3 {
			t.Errorf("%v: %d keys in the DNSKEY RRset; double-DS keeps one KSK", now, len(st.DNSKEY))
		}
		if len(st.KeySigners) != 1 {
			t.Errorf("%v: %d KSKs sign the DNSKEY RRset", now, len(st.KeySigners))
		}
		dsSeen[fmt.Sprint(dsTags(st))] = true
		for _, ks := range st.Keys {
			ph := phases[ks.Key.Tag()]
			if len(ph) == 0 || ph[len(ph)-1] != ks.Phase {
				phases[ks.Key.Tag()] = append(ph, ks.Phase)
			}
		}
	}
	if rolls[ZSK] < 5 || rolls[KSK] < 2 {
		t.Errorf("rolls %v: want at least 5 ZSK and 2 KSK rollovers in 200 days", rolls)
	}
	// Each ZSK that lived through: generated → published → active → retired → removed.
	full := 0
	for _, k := range w.keys {
		ph := phases[k.Tag()]
		want := []Phase{PhaseGenerated, PhasePublished, PhaseActive, PhaseRetired, PhaseRemoved}
		if k.Role == KSK {
			// Double-DS: the DNSKEY is published and signs at once, and
			// leaves when the successor takes over.
			want = []Phase{PhaseGenerated, PhaseActive, PhaseRemoved}
		}
		if k.Timing.Created.Before(t0) || k.Timing.Delete.IsZero() || k.Timing.Delete.After(end) {
			continue
		}
		full++
		if !slices.Equal(ph, want) {
			t.Errorf("%s %d phases %v, want %v", k.Role, k.Tag(), ph, want)
		}
	}
	if full < 5 {
		t.Errorf("only %d keys lived a whole cycle", full)
	}
	// Double-DS: there were times with two DS at the parent.
	two := false
	for s := range dsSeen {
		var a, b uint16
		if n, _ := fmt.Sscanf(s, "[%d %d]", &a, &b); n == 2 {
			two = true
		}
	}
	if !two {
		t.Errorf("DS sets seen %v: never two", dsSeen)
	}
}

// TestRollZSKLate: a successor asked for too late for a pre-publication
// pushes the old key's Inactive out rather than cut the wait short.
func TestRollZSKLate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Timings{Propagation: time.Hour, MaxTTL: 2 * time.Hour, DNSKEYTTL: 3 * time.Hour, ZSKLifetime: 30 * 24 * time.Hour}
	old := Timing{Publish: now.Add(-40 * 24 * time.Hour), Activate: now.Add(-40 * 24 * time.Hour)}
	oldNext, succ, err := p.RollZSK(old, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(4 * time.Hour); !oldNext.Inactive.Equal(want) || !succ.Activate.Equal(want) || !succ.Publish.Equal(now) {
		t.Errorf("old %+v\nsucc %+v\nwant the swap at %v, published now", oldNext, succ, want)
	}
	if want := now.Add(7 * time.Hour); !oldNext.Delete.Equal(want) {
		t.Errorf("old Delete %v, want %v (swap + propagation + max TTL)", oldNext.Delete, want)
	}
	if _, _, err := p.RollZSK(Timing{}, now); err == nil {
		t.Error("a key without Activate rolled")
	}
}

// signingKeys are the keys of role that sign in st.
func signingKeys(st Status, role Role) []*Key {
	var out []*Key
	for _, ks := range st.Keys {
		if ks.Key.Role == role && ks.Signing {
			out = append(out, ks.Key)
		}
	}
	return out
}
