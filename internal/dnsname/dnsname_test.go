package dnsname

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"example.com", true},
		{"example.com.", true},
		{"a-b.c1", true},
		{strings.Repeat("a", 63) + ".com", true},
		{"", false},
		{".", false},
		{"a..b", false},
		{"-a.com", false},
		{"a-.com", false},
		{"a_b.com", false},
		{"web.example.com:443", false},
		{strings.Repeat("a", 64) + ".com", false},
		{strings.Repeat("a.", 127) + "ab", false},
	}
	for _, tc := range tests {
		if got := Valid(tc.s); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
