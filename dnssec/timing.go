package dnssec

import (
	"fmt"
	"strings"
	"time"
)

// Timing is a key's schedule, BIND's timing metadata (dnssec-keygen -P -A
// -I -D, dnssec-settime): the zero time means "not set" (never).
type Timing struct {
	Created time.Time
	// Publish: the DNSKEY is in the zone's DNSKEY RRset from then on.
	Publish time.Time
	// Activate: the key signs from then on.
	Activate time.Time
	// Inactive: the key stops signing.
	Inactive time.Time
	// Delete: the DNSKEY leaves the zone.
	Delete time.Time
	// SyncPublish: CDS and CDNSKEY for the key are published, and the
	// parent is asked to carry its DS (KSK and CSK only).
	SyncPublish time.Time
	// SyncDelete: the CDS and CDNSKEY go; the parent drops the DS.
	SyncDelete time.Time
}

// timingField names one field of Timing as BIND writes it, in BIND's order.
type timingField struct {
	name string
	get  func(t *Timing) *time.Time
}

var timingFields = []timingField{
	{"Created", func(t *Timing) *time.Time { return &t.Created }},
	{"Publish", func(t *Timing) *time.Time { return &t.Publish }},
	{"Activate", func(t *Timing) *time.Time { return &t.Activate }},
	{"Inactive", func(t *Timing) *time.Time { return &t.Inactive }},
	{"Delete", func(t *Timing) *time.Time { return &t.Delete }},
	{"SyncPublish", func(t *Timing) *time.Time { return &t.SyncPublish }},
	{"SyncDelete", func(t *Timing) *time.Time { return &t.SyncDelete }},
}

// bindTime is the layout of BIND's timing values: YYYYMMDDHHMMSS, UTC.
const bindTime = "20060102150405"

// parseBindTime reads a BIND timing value. BIND also accepts a plain
// number of seconds since the epoch (dnssec-settime +N is relative and
// never written); we read the 14-digit form only, which is what every BIND
// tool writes.
func parseBindTime(s string) (time.Time, error) {
	if len(s) != len(bindTime) {
		return time.Time{}, fmt.Errorf("timing %q: want YYYYMMDDHHMMSS", s)
	}
	t, err := time.ParseInLocation(bindTime, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("timing %q: want YYYYMMDDHHMMSS", s)
	}
	return t, nil
}

// set reads one "Name: value" timing line; false when name is not a
// timing field.
func (t *Timing) set(name, value string) (bool, error) {
	for _, f := range timingFields {
		if strings.EqualFold(f.name, name) {
			v, err := parseBindTime(value)
			if err != nil {
				return true, fmt.Errorf("%s: %w", f.name, err)
			}
			*f.get(t) = v
			return true, nil
		}
	}
	return false, nil
}

// keyComments writes the set fields as the .key file's comments, BIND's
// "; Publish: 20260101000000 (Thu Jan  1 00:00:00 2026)".
func (t Timing) keyComments(b *strings.Builder) {
	for _, f := range timingFields {
		if v := *f.get(&t); !v.IsZero() {
			v = v.UTC()
			fmt.Fprintf(b, "; %s: %s (%s)\n", f.name, v.Format(bindTime), v.Format(time.ANSIC))
		}
	}
}

// privateLines writes the set fields as the .private file's lines,
// BIND's "Publish: 20260101000000".
func (t Timing) privateLines(b *strings.Builder) {
	for _, f := range timingFields {
		if v := *f.get(&t); !v.IsZero() {
			fmt.Fprintf(b, "%s: %s\n", f.name, v.UTC().Format(bindTime))
		}
	}
}

// equal reports whether two timings agree to the second (the files' precision).
func (t Timing) equal(u Timing) bool {
	for _, f := range timingFields {
		a, b := *f.get(&t), *f.get(&u)
		if a.IsZero() != b.IsZero() || !a.Truncate(time.Second).Equal(b.Truncate(time.Second)) {
			return false
		}
	}
	return true
}

// check refuses a schedule whose events are out of order.
func (t Timing) check() error {
	order := func(a, b string, x, y time.Time) error {
		if !x.IsZero() && !y.IsZero() && y.Before(x) {
			return fmt.Errorf("%s %s is before %s %s", b, y.UTC().Format(bindTime), a, x.UTC().Format(bindTime))
		}
		return nil
	}
	for _, p := range []struct {
		a, b string
		x, y time.Time
	}{
		{"Publish", "Delete", t.Publish, t.Delete},
		{"Activate", "Inactive", t.Activate, t.Inactive},
		{"Inactive", "Delete", t.Inactive, t.Delete},
		{"Publish", "Activate", t.Publish, t.Activate},
		{"SyncPublish", "SyncDelete", t.SyncPublish, t.SyncDelete},
	} {
		if err := order(p.a, p.b, p.x, p.y); err != nil {
			return err
		}
	}
	if t.Publish.IsZero() && !t.Activate.IsZero() {
		return fmt.Errorf("Activate is set without Publish")
	}
	return nil
}

// within reports whether from <= now < until, an unset from meaning never
// and an unset until meaning forever.
func within(now, from, until time.Time) bool {
	return !from.IsZero() && !now.Before(from) && (until.IsZero() || now.Before(until))
}
