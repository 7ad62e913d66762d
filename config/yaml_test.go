package config

import "testing"

// TestYAMLLines pins where syntax errors are reported. yaml.v3 v3.0.1
// prints parser errors one line early (see isParserProblem); if these
// fail after a yaml.v3 upgrade, check whether it fixed that.
func TestYAMLLines(t *testing.T) {
	tests := []struct{ data, want string }{
		// Parser errors: the line of the construct that is not closed.
		{"a: 1\n\n\nb: [1, 2\nc: 3\n", `t.yaml:4: yaml: did not find expected ',' or ']'`},
		{"a: {x: 1\n", `t.yaml:1: yaml: did not find expected ',' or '}'`},
		{"node:\n  id: n1\n dns: x\n", `t.yaml:3: yaml: did not find expected key`},
		// At the end of the file: its last line.
		{"a: 1\nb: 2\nc: [\n", `t.yaml:3: yaml: did not find expected node content`},
		// Scanner errors: yaml.v3's line is right.
		{"a: 1\nb: 2\nc: d: e\n", `t.yaml:3: yaml: mapping values are not allowed in this context`},
		{"a: 1\nb: 'x\n", `t.yaml:2: yaml: found unexpected end of stream`},
		{"a: 1\nb:\n\tc: 1\n", `t.yaml:3: yaml: a tab in the indentation: YAML indents with spaces only`},
		{"a:\n  b: 1\n\tc: 2\n", `t.yaml:3: yaml: a tab in the indentation: YAML indents with spaces only`},
		{"a: 1\nb: @x\n", `t.yaml:2: yaml: found character that cannot start any token`},
		// Other line ends.
		{"a: 1\r\nb: [1\r\n", `t.yaml:2: yaml: did not find expected ',' or ']'`},
		{"a: 1\rb: [1\r", `t.yaml:2: yaml: did not find expected ',' or ']'`},
		// Errors yaml.v3 reports without a line.
		{"a: *nope\n", `t.yaml: yaml: unknown anchor 'nope' referenced`},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(tc.data), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error:\n got  %v\n want %s", tc.data, err, tc.want)
		}
	}
}

func TestCountLines(t *testing.T) {
	tests := []struct {
		data string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"a\n", 1},
		{"a\nb", 2},
		{"a\r\nb\r\n", 2},
		{"a\rb", 2},
		{"\r\r\n\n", 3},
		{"a\u0085b\u2028c\u2029", 3},
	}
	for _, tc := range tests {
		if got := countLines([]byte(tc.data)); got != tc.want {
			t.Errorf("countLines(%q) = %d, want %d", tc.data, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	p := &parser{keys: keys()}
	tests := []struct{ prefix, name, want string }{
		{"dns", "lisen", "listen"},
		{"dns", "zones-dir", "zones_dir"},
		{"dns", "LISTEN", "listen"},
		{"dns.tcp", "idle", ""},
		{"", "nod", "node"},
		{"", "logging", ""},
		{"log", "levle", "level"},
		{"admin", "x", ""},
		{"", "d", ""},
		{"", "g", ""},
	}
	for _, tc := range tests {
		if got := p.suggest(tc.prefix, tc.name); got != tc.want {
			t.Errorf("suggest(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
		}
	}
}
