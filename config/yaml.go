package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aya-gslb/aya/internal/names"

	"gopkg.in/yaml.v3"
)

// leaf is a known key found in the file.
type leaf struct {
	line int        // the key's line
	val  *yaml.Node // the value, aliases resolved; list items have their own lines
}

// readYAML parses data once, with yaml.v3, into nodes. It checks the keys
// against the key table (unknown, duplicate, or a section that is not a
// mapping), records the position of every known key in p.leaves, and
// returns their values as the nested map viper merges. Unknown keys never
// reach viper. ok is false after a syntax error, which is then the only
// error reported.
func (p *parser) readYAML(data []byte) (fileMap map[string]any, ok bool) {
	fileMap = make(map[string]any)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // empty, or only comments
			return fileMap, true
		}
		p.yamlError(err, data)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.errs = append(p.errs, &Error{File: p.name, Line: next.Line,
			Msg: "a second YAML document; the file must hold exactly one"})
		return nil, false
	case !errors.Is(err, io.EOF):
		p.yamlError(err, data)
		return nil, false
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return fileMap, true
		}
		root = root.Content[0]
	}
	root = resolve(root)
	switch {
	case isNull(root):
	case root.Kind != yaml.MappingNode:
		p.errs = append(p.errs, &Error{File: p.name, Line: root.Line,
			Msg: fmt.Sprintf("the top level must be a mapping of keys (got %s)", kindName(root))})
	default:
		p.walk(root, "", fileMap)
	}
	return fileMap, true
}

// walk checks the mapping m, found at the dotted path prefix, and fills out
// with the values of the known keys in it.
func (p *parser) walk(m *yaml.Node, prefix string, out map[string]any) {
	seen := make(map[string]int) // key -> line
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], resolve(m.Content[i+1])
		line := kn.Line
		kn = resolve(kn)
		if kn.Kind != yaml.ScalarNode {
			p.errs = append(p.errs, &Error{File: p.name, Line: line, Key: prefix,
				Msg: fmt.Sprintf("keys must be strings (got %s)", kindName(kn))})
			continue
		}
		name := kn.Value
		full := joinKey(prefix, name)
		fail := func(format string, args ...any) {
			p.errs = append(p.errs, &Error{File: p.name, Line: line, Key: joinKey(prefix, printable(name)),
				Msg: fmt.Sprintf(format, args...)})
		}
		if kn.ShortTag() == "!!merge" {
			fail("merge keys (<<) are not supported")
			continue
		}
		if strings.Contains(name, ".") {
			// viper would take "dns.listen" as a path; say how to write it.
			fail("keys must not contain \".\"; nest them instead")
			continue
		}
		if first, dup := seen[name]; dup {
			fail("duplicate key (first at line %d)", first)
			continue
		}
		seen[name] = line

		switch p.kindOf(full) {
		case "section":
			if full == "proxy" {
				p.proxy.line = line
			}
			if isNull(vn) {
				continue
			}
			if vn.Kind != yaml.MappingNode {
				fail("must be a mapping of keys (got %s)", kindName(vn))
				p.proxy.bad = p.proxy.bad || full == "proxy"
				continue
			}
			p.proxy.mapping = p.proxy.mapping || full == "proxy"
			sub := make(map[string]any)
			out[name] = sub
			p.walk(vn, full, sub)
		case "key":
			p.leaves[full] = &leaf{line: line, val: vn}
			if isNull(vn) {
				continue // the default applies
			}
			if p.key(full).fileOnly {
				continue // decoded from the nodes, see steering.go
			}
			var v any
			if err := vn.Decode(&v); err != nil {
				l, msg := splitYAMLError(err)
				if l == 0 {
					l = line
				}
				p.errs = append(p.errs, &Error{File: p.name, Line: l, Key: full, Msg: msg})
				p.bad[full] = true
				continue
			}
			out[name] = v
		default:
			if s := p.suggest(prefix, name); s != "" {
				fail("unknown key (did you mean %q?)", s)
			} else {
				fail("unknown key")
			}
		}
	}
}

// kindOf says whether the dotted path is a "section" (a mapping of keys), a
// leaf "key", or "" (unknown).
func (p *parser) kindOf(path string) string {
	for _, k := range p.keys {
		if k.name == path {
			return "key"
		}
		if strings.HasPrefix(k.name, path+".") {
			return "section"
		}
	}
	return ""
}

// suggest returns the known name under prefix closest to the unknown name,
// or "" if none is close: same letters in another case, or at most two
// edits away and no more than half the length of name.
func (p *parser) suggest(prefix, name string) string {
	pre := ""
	if prefix != "" {
		pre = prefix + "."
	}
	var cands []string
	for _, k := range p.keys {
		if rest, ok := strings.CutPrefix(k.name, pre); ok {
			cand, _, _ := strings.Cut(rest, ".")
			cands = append(cands, cand)
		}
	}
	return names.Closest(name, cands)
}

// yamlError records a YAML syntax error in data, moving yaml.v3's "line N"
// into Error.Line.
func (p *parser) yamlError(err error, data []byte) {
	line, msg := splitYAMLError(err)
	if n := countLines(data); line > n {
		line = n // an error at the end of the file: point at its last line
	}
	if tabMessage(msg) {
		// yaml.v3 names the line before the tab's for "violates
		// indentation".
		for _, l := range []int{line, line + 1} {
			if tabIndented(data, l) {
				line, msg = l, "yaml: a tab in the indentation: YAML indents with spaces only"
				break
			}
		}
	}
	p.errs = append(p.errs, &Error{File: p.name, Line: line, Msg: msg})
}

// tabMessage reports whether msg is what yaml.v3 says of a tab where it
// wants indentation: "found character that cannot start any token" (any
// character that cannot start a token, a tab among them) or "found a tab
// character that violates indentation".
func tabMessage(msg string) bool {
	return msg == "yaml: found character that cannot start any token" ||
		msg == "yaml: found a tab character that violates indentation"
}

// tabIndented reports whether line (1-based) of data starts with
// whitespace that holds a tab.
func tabIndented(data []byte, line int) bool {
	if line < 1 {
		return false
	}
	for i, l := range strings.Split(string(data), "\n") {
		if i == line-1 {
			indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			return strings.Contains(indent, "\t")
		}
	}
	return false
}

// isParserProblem reports whether msg is one of yaml.v3's parser
// (parserc.go) messages, as opposed to its scanner's. For these, yaml.v3
// v3.0.1 prints a 0-based line (go-yaml/yaml#205: "Error reported on
// previous line number"), so splitYAMLError adds one. TestYAMLLines pins
// the behaviour, so a yaml.v3 that fixes it is noticed.
func isParserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected '-' indicator",
		"did not find expected <document start>",
		"did not find expected <stream-start>",
		"did not find expected key",
		"did not find expected node content",
		"found duplicate %TAG directive",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// splitYAMLError turns "yaml: line 3: did not find expected key" into
// (4, "yaml: did not find expected key") (see isParserProblem). A
// multi-line TypeError keeps its first problem. The message is always one
// line.
func splitYAMLError(err error) (line int, msg string) {
	msg = err.Error()
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil && l > 0 {
				line, msg = l, after
				if isParserProblem(msg) {
					line++
				}
			}
		}
	}
	return line, "yaml: " + strings.Join(strings.Fields(msg), " ")
}

// countLines is the number of lines in data as YAML counts them: a line
// ends at \n, \r\n, \r, NEL, LS or PS, and a last line without a break
// counts too.
func countLines(data []byte) int {
	n, open := 0, false
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			n, open = n+1, false
		case data[i] == '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			n, open = n+1, false
		case bytes.HasPrefix(data[i:], []byte("\u0085")):
			n, open, i = n+1, false, i+1
		case bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n, open, i = n+1, false, i+2
		default:
			open = true
		}
	}
	if open {
		n++
	}
	return n
}

// resolve follows an alias to its anchor's node.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or empty YAML null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	default:
		return "an alias"
	}
}

// joinKey appends name to the dotted prefix.
func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// printable quotes a key from the file that would not print as one plain
// token (empty, or with spaces, dots, quotes, control characters or
// non-ASCII), so each error stays on one line and unambiguous.
func printable(key string) string {
	if key == "" {
		return `""`
	}
	for _, r := range key {
		if r <= ' ' || r >= 0x7f || r == '"' || r == '.' {
			return strconv.Quote(key)
		}
	}
	return key
}
