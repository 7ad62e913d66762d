package names

import (
	"strings"
	"testing"
)

func TestIsHostName(t *testing.T) {
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
		if got := IsHostName(tc.s); got != tc.want {
			t.Errorf("IsHostName(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"GET", true}, {"X-Custom!#$%&'*+-.^_`|~9", true},
		{"", false}, {"GE T", false}, {"a/b", false}, {"ä", false}, {"a\x7f", false},
	} {
		if got := IsToken(tc.s); got != tc.want {
			t.Errorf("IsToken(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
