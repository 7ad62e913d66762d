package dnssec

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Phase is where a key is in its life at one moment, a pure function of
// its Timing and the time (see StateAt).
type Phase string

const (
	// PhaseGenerated: not in the zone yet (before Publish).
	PhaseGenerated Phase = "generated"
	// PhasePublished: its DNSKEY is in the zone, it does not sign yet
	// (a ZSK pre-published, waiting for caches to hold it).
	PhasePublished Phase = "published"
	// PhaseActive: published and signing.
	PhaseActive Phase = "active"
	// PhaseRetired: still published, no longer signing (its signatures
	// may still be in caches).
	PhaseRetired Phase = "retired"
	// PhaseRemoved: after Delete.
	PhaseRemoved Phase = "removed"
)

// KeyState is what one key does at one moment.
type KeyState struct {
	Key   *Key
	Phase Phase
	// Published: its DNSKEY is in the zone's DNSKEY RRset.
	Published bool
	// Signing: it makes signatures (the zone's for a ZSK or CSK, the
	// DNSKEY RRset's for a KSK or CSK).
	Signing bool
	// DS: (KSK, CSK) its DS should be at the parent; CDS and CDNSKEY for
	// it are in the zone.
	DS bool
}

// StateAt is key k's state at now.
func StateAt(k *Key, now time.Time) KeyState {
	t := &k.Timing
	s := KeyState{Key: k}
	s.Published = within(now, t.Publish, t.Delete)
	s.Signing = s.Published && within(now, t.Activate, t.Inactive)
	s.DS = k.Role.signsKeys() && within(now, t.SyncPublish, t.SyncDelete)
	switch {
	case !t.Delete.IsZero() && !now.Before(t.Delete):
		s.Phase = PhaseRemoved
	case s.Signing:
		s.Phase = PhaseActive
	case s.Published && (t.Activate.IsZero() || now.Before(t.Activate)):
		s.Phase = PhasePublished
	case s.Published:
		s.Phase = PhaseRetired
	default:
		s.Phase = PhaseGenerated
	}
	return s
}

// Status is what a zone's keys do at one moment: the DNSKEY RRset, who
// signs what, and the DS RRset the parent should carry.
type Status struct {
	At   time.Time
	Keys []KeyState
	// DNSKEY is the zone's DNSKEY RRset: every published key.
	DNSKEY []dns.RR
	// ZoneSigners sign every RRset but DNSKEY, CDS and CDNSKEY
	// (active ZSKs and CSKs); KeySigners sign those three (active KSKs
	// and CSKs).
	ZoneSigners, KeySigners []*Key
	// DS is what the parent should carry (digest type 2), and CDS and
	// CDNSKEY are its RFC 7344 signals in the zone.
	DS      []*dns.DS
	CDS     []dns.RR
	CDNSKEY []dns.RR
	// Problems say why the zone cannot be signed now; empty when it can.
	Problems []string
}

// StatusAt computes the keys' states at now. It reports, rather than
// fails on, a set of keys that cannot sign the zone, so that `aya dnssec
// status` can show it; the Signer refuses to sign while Problems is not
// empty.
func StatusAt(keys []*Key, now time.Time) Status {
	st := Status{At: now}
	algs := map[uint8]bool{}
	for _, k := range keys {
		s := StateAt(k, now)
		st.Keys = append(st.Keys, s)
		if s.Published {
			st.DNSKEY = append(st.DNSKEY, k.DNSKEY)
			algs[k.DNSKEY.Algorithm] = true
		}
		if s.Signing && k.Role.signsZone() {
			st.ZoneSigners = append(st.ZoneSigners, k)
		}
		if s.Signing && k.Role.signsKeys() {
			st.KeySigners = append(st.KeySigners, k)
		}
		if s.DS {
			ds := k.DS()
			st.DS = append(st.DS, ds)
			st.CDS = append(st.CDS, ds.ToCDS())
			st.CDNSKEY = append(st.CDNSKEY, k.DNSKEY.ToCDNSKEY())
		}
		if s.Signing && k.Role.signsKeys() && !s.DS {
			st.Problems = append(st.Problems, fmt.Sprintf("%s %d signs the DNSKEY RRset but its DS is not to be at the parent (SyncPublish unset, later, or past SyncDelete)", k.Role, k.Tag()))
		}
	}
	if len(st.ZoneSigners) == 0 {
		st.Problems = append(st.Problems, "no active ZSK or CSK: nothing signs the zone")
	}
	if len(st.KeySigners) == 0 {
		st.Problems = append(st.Problems, "no active KSK or CSK: nothing signs the DNSKEY RRset")
	}
	if len(algs) > 1 {
		st.Problems = append(st.Problems, "keys of more than one algorithm are published: algorithm rollovers are not supported")
	}
	return st
}

// Timings are the intervals of a rollover (RFC 7583's names in brackets).
type Timings struct {
	// Propagation is how long a change of the zone takes to reach every
	// site, a new release applied everywhere [Dprp]; default 1h.
	Propagation time.Duration
	// MaxTTL is the zone's largest TTL, which RRSIGs carry [TTLsig].
	MaxTTL time.Duration
	// DNSKEYTTL is the DNSKEY RRset's TTL [TTLkey].
	DNSKEYTTL time.Duration
	// DSTTL is the parent's DS TTL [TTLds]; default 1 day (24h).
	DSTTL time.Duration
	// ParentDelay is how long the parent takes to publish a DS change
	// once asked, registration and the parent's propagation [Dreg + DprpP];
	// default 1 day (24h).
	ParentDelay time.Duration
	// ZSKLifetime and KSKLifetime are how long a key signs [Lzsk, Lksk].
	ZSKLifetime, KSKLifetime time.Duration
}

// RollZSK plans a ZSK pre-publish rollover (RFC 7583 §3.2.1): the
// successor's DNSKEY is published Propagation + DNSKEYTTL before the old
// key's Inactive, when it takes over, and the old DNSKEY stays until
// Propagation + MaxTTL after, when no cache holds its signatures. now is
// when the successor is made: when the old key's Inactive is too close for
// a pre-publication from now, it moves later. old must be an active ZSK's
// timing (Inactive may be unset: Activate + ZSKLifetime).
func (p Timings) RollZSK(old Timing, now time.Time) (oldNext, succ Timing, err error) {
	if old.Activate.IsZero() {
		return old, succ, fmt.Errorf("roll ZSK: the old key has no Activate time")
	}
	ipub := p.Propagation + p.DNSKEYTTL
	iret := p.Propagation + p.MaxTTL
	switch {
	case !old.Inactive.IsZero():
	case p.ZSKLifetime > 0:
		old.Inactive = old.Activate.Add(p.ZSKLifetime)
	default:
		return old, succ, fmt.Errorf("roll ZSK: the old key has no Inactive time and no ZSK lifetime is set")
	}
	if earliest := now.Add(ipub); old.Inactive.Before(earliest) {
		old.Inactive = earliest
	}
	old.Delete = old.Inactive.Add(iret)
	succ.Created = now
	succ.Publish = old.Inactive.Add(-ipub)
	succ.Activate = old.Inactive
	if p.ZSKLifetime > 0 {
		succ.Inactive = succ.Activate.Add(p.ZSKLifetime)
	}
	return old, succ, nil
}

// RollKSK plans a KSK double-DS rollover (RFC 7583 §3.3.2): the
// successor's DS is asked of the parent now (SyncPublish: CDS and CDNSKEY
// appear, `aya dnssec ds` prints it); after ParentDelay + DSTTL every
// cache that has the DS RRset has both DS, and the DNSKEY RRset swaps the
// old KSK for the new one (the old key's Inactive and Delete, the new
// one's Publish and Activate); after Propagation + DNSKEYTTL more, no
// cache holds the old DNSKEY RRset and the old DS goes (its SyncDelete).
// The DNSKEY RRset never carries two KSKs, which keeps it small. When the
// old key's Inactive is later than the earliest swap, the swap waits for
// it, and the successor's DS is asked for that much later.
func (p Timings) RollKSK(old Timing, now time.Time) (oldNext, succ Timing, err error) {
	if old.Activate.IsZero() {
		return old, succ, fmt.Errorf("roll KSK: the old key has no Activate time")
	}
	ids := p.ParentDelay + p.DSTTL
	swap := now.Add(ids)
	switch {
	case !old.Inactive.IsZero() && old.Inactive.After(swap):
		swap = old.Inactive
	case old.Inactive.IsZero() && p.KSKLifetime > 0 && old.Activate.Add(p.KSKLifetime).After(swap):
		swap = old.Activate.Add(p.KSKLifetime)
	}
	succ.Created = now
	succ.SyncPublish = swap.Add(-ids)
	succ.Publish = swap
	succ.Activate = swap
	if p.KSKLifetime > 0 {
		succ.Inactive = swap.Add(p.KSKLifetime)
	}
	old.Inactive = swap
	old.Delete = swap
	old.SyncDelete = swap.Add(p.Propagation + p.DNSKEYTTL)
	return old, succ, nil
}

// sortedDS returns ds sorted by key tag, for output that does not depend
// on file order.
func sortedDS(ds []*dns.DS) []*dns.DS {
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b *dns.DS) int { return int(a.KeyTag) - int(b.KeyTag) })
	return out
}
