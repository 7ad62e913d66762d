package demo

import (
	"slices"
	"testing"
)

// TestParseAddrs: --sites, --proxies and --backends as ranges or lists,
// and what is said of the rest.
func TestParseAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"127.0.0.11-13", []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}, ""},
		{"127.0.0.11, 127.0.1.1,10.0.0.1", []string{"127.0.0.11", "127.0.1.1", "10.0.0.1"}, ""},
		{"127.0.0.11-12", nil, `--sites: want 3 addresses, as a range such as 127.0.0.11-13 or a comma-separated list (got "127.0.0.11-12": 2 addresses)`},
		{"127.0.0.13-11", nil, `--sites: want 3 addresses, as a range such as 127.0.0.11-13 or a comma-separated list (got "127.0.0.13-11": the last octet after "-" must be a number from the first address's on, at most 255)`},
		{"localhost-3", nil, `--sites: want 3 addresses, as a range such as 127.0.0.11-13 or a comma-separated list (got "localhost-3": not an IPv4 address before the "-")`},
		{"::1,::2,::3", nil, `--sites: want 3 addresses, as a range such as 127.0.0.11-13 or a comma-separated list (got "::1,::2,::3": "::1" is not an IPv4 address)`},
	} {
		got, err := ParseAddrs("--sites", tc.in, 3)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if !slices.Equal(got, tc.want) || msg != tc.err {
			t.Errorf("ParseAddrs(%q) = %v, %q; want %v, %q", tc.in, got, msg, tc.want, tc.err)
		}
	}
}
