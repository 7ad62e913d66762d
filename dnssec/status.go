package dnssec

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
)

// WriteStatus prints st for an operator: each key's role, tag, algorithm,
// phase, whether its DNSKEY is published, whether it signs, whether its DS
// belongs at the parent, and its next event; then the DS RRset to publish
// at the parent, and the problems.
func WriteStatus(w io.Writer, zone string, st Status) error {
	fmt.Fprintf(w, "zone %s at %s\n", zone, st.At.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tTAG\tALGORITHM\tSTATE\tDNSKEY\tSIGNS\tDS\tNEXT")
	for _, ks := range st.Keys {
		k := ks.Key
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Role, k.Tag(), dns.AlgorithmToString[k.DNSKEY.Algorithm],
			ks.Phase, yesNo(ks.Published), yesNo(ks.Signing), dsState(ks, st.At), nextEvent(k.Timing, st.At))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.DS) == 0 {
		fmt.Fprintln(w, "DS to publish at the parent: none (the zone is not secured by its parent)")
	} else {
		fmt.Fprintln(w, "DS to publish at the parent:")
		for _, ds := range sortedDS(st.DS) {
			fmt.Fprintln(w, ds.String())
		}
	}
	if len(st.Problems) == 0 {
		_, err := fmt.Fprintln(w, "problems: none")
		return err
	}
	for _, p := range st.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// dsState says what the parent should do with the key's DS at now:
// publish it, withdraw it (after SyncDelete), or nothing yet.
func dsState(ks KeyState, now time.Time) string {
	t := ks.Key.Timing
	switch {
	case !ks.Key.Role.signsKeys():
		return "-"
	case ks.DS:
		return "publish"
	case !t.SyncDelete.IsZero() && !now.Before(t.SyncDelete):
		return "withdraw"
	case !t.SyncPublish.IsZero():
		return "later"
	default:
		return "no"
	}
}

// nextEvent names the key's next scheduled event after now.
func nextEvent(t Timing, now time.Time) string {
	best, name := time.Time{}, ""
	for _, f := range timingFields {
		if f.name == "Created" {
			continue
		}
		v := *f.get(&t)
		if v.After(now) && (best.IsZero() || v.Before(best)) {
			best, name = v, f.name
		}
	}
	if name == "" {
		return "-"
	}
	return name + " " + best.UTC().Format(time.RFC3339)
}
