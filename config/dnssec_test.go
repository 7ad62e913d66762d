package config

import (
	"testing"
	"time"

	"github.com/aya-gslb/aya/dnssec"
)

// dnssecYAML is baseLines (44 lines) and a dnssec section: dnssec: is line
// 45, its keys lines 46 on.
func dnssecYAML(t *testing.T, section string) []byte {
	t.Helper()
	return append(with(t, "", ""), []byte("dnssec:\n"+section)...)
}

func TestDNSSECKeys(t *testing.T) {
	clearEnv(t)
	c, err := Parse("t.yaml", with(t, "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (dnssec.Config{}).WithDefaults(); c.DNSSEC != want {
		t.Errorf("defaults: dnssec = %+v, want dnssec.Config's %+v", c.DNSSEC, want)
	}

	c, err = Parse("t.yaml", dnssecYAML(t, "  validity: 720h\n  refresh: 240h\n  jitter: 1h\n  max_answer_sets: 100\n  algorithm: ed25519\n  keys_dir: /var/lib/aya/keys\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.DNSSEC; d.Validity != 720*time.Hour || d.Refresh != 240*time.Hour || d.Jitter != time.Hour ||
		d.MaxAnswerSets != 100 || d.Algorithm != "ed25519" || d.KeysDir != "/var/lib/aya/keys" || d.Propagation != dnssec.DefaultPropagation {
		t.Errorf("dnssec = %+v", d)
	}
	if err := c.DNSSEC.Validate(); err != nil {
		t.Errorf("an accepted section fails the signer's rules: %v", err)
	}

	for _, tc := range []struct{ name, section, want string }{
		{"unknown key", "  validty: 1h\n", `t.yaml:46: dnssec.validty: unknown key (did you mean "validity"?)`},
		{"bad duration", "  refresh: 7d\n", `t.yaml:46: dnssec.refresh: must be a duration such as "10s" or "1m30s" (got "7d")`},
		{"negative", "  jitter: -1h\n", "t.yaml:46: dnssec.jitter: must not be negative (got -1h0m0s)"},
		{"refresh too long", "  refresh: 400h\n",
			"t.yaml:46: dnssec.refresh: dnssec.refresh (400h0m0s) plus dnssec.jitter (12h0m0s) must be less than dnssec.validity (336h0m0s): signatures would be due for renewal when made"},
		{"max_answer_sets 0", "  max_answer_sets: 0\n", "t.yaml:46: dnssec.max_answer_sets: must be between 1 and 2147483647 (got 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", dnssecYAML(t, tc.section), nil)
			if got := errText(err); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
	_, err = Parse("t.yaml", dnssecYAML(t, "  algorithm: rsasha1\n"), nil)
	if got := errText(err); len(got) < len("t.yaml:46: dnssec.algorithm: ") || got[:len("t.yaml:46: dnssec.algorithm: ")] != "t.yaml:46: dnssec.algorithm: " {
		t.Errorf("algorithm rsasha1: error %q, want one at t.yaml:46: dnssec.algorithm", got)
	}
}
