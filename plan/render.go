package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes r as indented JSON: the Report struct with its json
// tags, Format 1 (see docs/operations.md, "aya diff").
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// maxCountries is how many countries the text shows per name; the JSON has
// them all.
const maxCountries = 8

// WriteText writes r as the terse plan `aya diff` prints: a summary line,
// then per changed name (+ added, - removed, ~ changed) its changed share,
// a table of moves (before → after, networks and addresses per family, a
// few client subnets to try) and the countries most moved. Unchanged names
// are counted in the summary only.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	changed := 0
	for i := range r.Names {
		if !r.Names[i].Changed.IsZero() {
			changed++
		}
	}
	fmt.Fprintf(&b, "aya diff: %d of %d steered names change, over %s networks (%s IPv4, %s IPv6)\n",
		changed, len(r.Names), commas(r.Networks.IPv4.Networks+r.Networks.IPv6.Networks),
		commas(r.Networks.IPv4.Networks), commas(r.Networks.IPv6.Networks))
	if changed == 0 {
		b.WriteString("\nNo changes: every network gets the answers it gets now.\n")
	}
	for i := range r.Names {
		n := &r.Names[i]
		if n.Changed.IsZero() {
			continue
		}
		b.WriteString("\n")
		switch {
		case n.PoolBefore == "":
			fmt.Fprintf(&b, "+ %s  pool %s (new name)\n", n.Name, n.PoolAfter)
		case n.PoolAfter == "":
			fmt.Fprintf(&b, "- %s  pool %s (name removed)\n", n.Name, n.PoolBefore)
		case n.PoolBefore != n.PoolAfter:
			fmt.Fprintf(&b, "~ %s  pool %s → %s\n", n.Name, n.PoolBefore, n.PoolAfter)
		default:
			fmt.Fprintf(&b, "~ %s  pool %s\n", n.Name, n.PoolAfter)
		}
		fmt.Fprintf(&b, "    changes %s\n", share(n.Changed, r.Networks))
		rows := [][]string{{"FROM", "TO", "IPV4 NETS", "IPV4 ADDRS", "IPV6 NETS", "IPV6 ADDRS", "TRY"}}
		for _, m := range n.Moves {
			to := m.To.String()
			if m.From == m.To {
				to = "(same, other addresses)"
			}
			var try []string
			for _, s := range m.Samples {
				try = append(try, s.String())
			}
			rows = append(rows, append([]string{m.From.String(), to}, append(counts(m.Count), strings.Join(try, " "))...))
		}
		table(&b, rows)
		rows = [][]string{{"COUNTRY", "", "IPV4 NETS", "IPV4 ADDRS", "IPV6 NETS", "IPV6 ADDRS", ""}}
		for k, c := range n.Countries {
			if k == maxCountries {
				rows = append(rows, []string{fmt.Sprintf("… %d more", len(n.Countries)-k), "", "", "", "", "", ""})
				break
			}
			cc := c.Country
			if cc == "" {
				cc = "??"
			}
			rows = append(rows, append([]string{cc, ""}, append(counts(c.Count), "")...))
		}
		table(&b, rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// share words a changed count against the total, per family with any.
func share(c, total Count) string {
	var parts []string
	for _, f := range []struct {
		name     string
		c, total FamilyCount
		addrs    func(Addresses) string
	}{
		{"IPv4", c.IPv4, total.IPv4, func(a Addresses) string { return commas(a.w[0]) }},
		{"IPv6", c.IPv6, total.IPv6, pow2},
	} {
		if f.c.Networks == 0 {
			continue
		}
		pct := 100 * f.c.Addresses.Float64() / f.total.Addresses.Float64()
		parts = append(parts, fmt.Sprintf("%s of %s %s networks (%s addresses, %s%%)",
			commas(f.c.Networks), commas(f.total.Networks), f.name, f.addrs(f.c.Addresses), strconv.FormatFloat(pct, 'f', 2, 64)))
	}
	return strings.Join(parts, ", ")
}

// counts are the four count columns of a table row.
func counts(c Count) []string {
	return []string{commas(c.IPv4.Networks), commas(c.IPv4.Addresses.w[0]), commas(c.IPv6.Networks), pow2(c.IPv6.Addresses)}
}

// table writes rows indented by four spaces, the count columns (2 to 5)
// aligned right, the others left, two spaces apart; trailing blanks cut.
func table(b *strings.Builder, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		line.WriteString("    ")
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i >= 2 && i <= 5 {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
}

// commas writes n in decimal with thousands separators.
func commas(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// pow2 writes an IPv6 address count as a power of two ("2^80.0"): even a
// few /32s are numbers no one reads. 0 stays 0.
func pow2(a Addresses) string {
	if a == (Addresses{}) {
		return "0"
	}
	return "2^" + strconv.FormatFloat(a.Log2(), 'f', 1, 64)
}
