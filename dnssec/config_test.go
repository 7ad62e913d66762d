package dnssec

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
		check            func(c Config) bool
	}{
		{name: "absent", yaml: "node: {id: a}\n", check: func(c Config) bool { return c.Validity == DefaultValidity && c.MaxAnswerSets == DefaultMaxAnswerSets }},
		{name: "set", yaml: "dns: {listen: [x]}\ndnssec:\n  validity: 720h\n  refresh: 240h\n  jitter: 1h\n  max_answer_sets: 100\n  algorithm: ed25519\n",
			check: func(c Config) bool {
				return c.Validity == 720*time.Hour && c.Refresh == 240*time.Hour && c.Jitter == time.Hour && c.MaxAnswerSets == 100 && c.Algorithm == "ed25519"
			}},
		{name: "unknown key", yaml: "dnssec:\n  validty: 1h\n", want: "aya.yaml:2: dnssec.validty: unknown key; did you mean validity?"},
		{name: "bad duration", yaml: "dnssec:\n  refresh: 7d\n", want: `aya.yaml:2: dnssec.refresh: "7d": want a duration such as 336h`},
		{name: "bad int", yaml: "dnssec:\n  max_answer_sets: lots\n", want: `aya.yaml:2: dnssec.max_answer_sets: "lots": want an integer`},
		{name: "list", yaml: "dnssec:\n  algorithm: [a]\n", want: `aya.yaml:2: dnssec.algorithm: want a single value`},
		{name: "refresh too long", yaml: "dnssec:\n  refresh: 400h\n", want: "aya.yaml:2: dnssec.refresh (400h0m0s) plus dnssec.jitter (12h0m0s) must be less than dnssec.validity (336h0m0s)"},
		{name: "algorithm", yaml: "dnssec:\n  algorithm: rsa\n", want: `dnssec.algorithm: algorithm "rsa"`},
		{name: "not a mapping", yaml: "dnssec: 3\n", want: "aya.yaml:1: dnssec: want a mapping"},
		{name: "negative", yaml: "dnssec:\n  jitter: -1h\n", want: "dnssec.jitter: -1h0m0s: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(strings.NewReader(tc.yaml), "aya.yaml")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
