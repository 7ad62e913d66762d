package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// rrlYAML is baseLines with a dns.rrl and a dns.cookies section after
// dns.transfer.allow (line 13): rrl: is line 14, its keys lines 15 on.
func rrlYAML(t *testing.T, rrl string) []byte {
	t.Helper()
	return with(t, "dns.transfer.allow", "[127.0.0.1/32]\n  rrl:\n"+rrl+"  cookies:\n    enabled: false")
}

func TestRRLKeys(t *testing.T) {
	clearEnv(t)
	c, err := Parse("t.yaml", rrlYAML(t, "    enabled: true\n    responses_per_second: 50\n    window: 5s\n    slip: 0\n"+
		"    ipv4_prefix: 32\n    ipv6_prefix: 64\n    exempt: [192.0.2.53, 2001:db8:53::/48]\n    log_only: true\n    table_size: 4096\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RRLConfig{Enabled: true, ResponsesPerSecond: 50, Window: 5 * time.Second, Slip: 0, IPv4Prefix: 32, IPv6Prefix: 64,
		Exempt: []string{"192.0.2.53", "2001:db8:53::/48"}, LogOnly: true, TableSize: 4096,
		ExemptPrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32"), netip.MustParsePrefix("2001:db8:53::/48")}}
	if !reflect.DeepEqual(c.DNS.RRL, want) || c.DNS.Cookies.Enabled {
		t.Errorf("dns.rrl = %+v, cookies %+v; want %+v, disabled", c.DNS.RRL, c.DNS.Cookies, want)
	}

	for _, tc := range []struct{ name, rrl, want string }{
		{"rate 0", "    responses_per_second: 0\n",
			"t.yaml:15: dns.rrl.responses_per_second: must be between 1 and 1000000 (got 0)"},
		{"window fraction", "    window: 1500ms\n",
			"t.yaml:15: dns.rrl.window: must be whole seconds from 1s to 1h (got 1.5s)"},
		{"window zero", "    window: 0s\n",
			"t.yaml:15: dns.rrl.window: must be whole seconds from 1s to 1h (got 0s)"},
		{"slip 11", "    slip: 11\n", "t.yaml:15: dns.rrl.slip: must be between 0 and 10 (got 11)"},
		{"v4 prefix 33", "    ipv4_prefix: 33\n", "t.yaml:15: dns.rrl.ipv4_prefix: must be between 8 and 32 (got 33)"},
		{"v6 prefix 8", "    ipv6_prefix: 8\n", "t.yaml:15: dns.rrl.ipv6_prefix: must be between 16 and 128 (got 8)"},
		{"exempt bad", "    exempt: [10.0.0.1/8]\n",
			`t.yaml:15: dns.rrl.exempt[0]: has address bits set past the prefix length (got "10.0.0.1/8"; did you mean "10.0.0.0/8"?)`},
		{"table 1", "    table_size: 1\n", "t.yaml:15: dns.rrl.table_size: must be between 2 and 67108864 (got 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", rrlYAML(t, tc.rrl), nil)
			if got := errText(err); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
