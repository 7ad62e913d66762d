package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya"
)

// The keys of a configuration file that belong to the release: what every
// site must answer alike from. Everything else is a site's own.
var (
	releaseSections = map[string]bool{"regions": true, "pools": true, "ecs": true}
	releaseCluster  = map[string]bool{"fresh_for": true, "report_interval": true, "shed": true}
)

// isReleaseKey reports whether the dotted key belongs to the release.
func isReleaseKey(name string) bool {
	top, rest, _ := strings.Cut(name, ".")
	if releaseSections[top] {
		return true
	}
	sub, _, _ := strings.Cut(rest, ".")
	return top == "cluster" && releaseCluster[sub]
}

// ReleaseText returns the release part of a configuration file: the
// regions, pools and ecs sections and cluster.fresh_for,
// cluster.report_interval and cluster.shed, with every other line blank,
// so that the text keeps the file's line numbers (errors on any site point
// into the operator's file) and nothing that is a site's own, such as a
// token or an address, leaves the site. data must be a configuration that
// Parse accepts. A file whose top level or cluster section is in flow
// style ({…}) has those parts re-encoded instead, on their first line.
func ReleaseText(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("release text: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("release text: the top level is not a mapping")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	keep := make([]bool, len(lines)+1) // by line number, 1-based
	put := map[int][]byte{}            // line number → replacement text
	// keepRange keeps the lines from, to of a key at column col, without
	// the blank lines and comments at col or left of it that end the
	// range: those come before the next key and are about it.
	keepRange := func(from, to, col int) {
		to = min(to, len(lines))
		for ; to > from && trailing(lines[to-1], col); to-- {
		}
		for l := from; l <= to; l++ {
			keep[l] = true
		}
	}
	// in holds the nodes that travel, so that an alias to an anchor that
	// does not is an error rather than a text that no longer parses.
	in := map[*yaml.Node]bool{}
	var part []*yaml.Node // the key and value nodes that travel
	if root.Style&yaml.FlowStyle != 0 {
		m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch {
			case releaseSections[k.Value]:
				m.Content = append(m.Content, k, v)
			case k.Value == "cluster":
				if sub := clusterPart(resolve(v)); sub != nil {
					m.Content = append(m.Content, k, sub)
				}
			}
		}
		if err := checkAliases(m.Content, in); err != nil {
			return nil, err
		}
		if len(m.Content) == 0 {
			return blankLines(lines, nil), nil
		}
		b, err := marshalFlow(m)
		if err != nil {
			return nil, fmt.Errorf("release text: %w", err)
		}
		put[root.Line] = indent(root.Column, bytes.TrimRight(b, "\n"))
		return blankLines(lines, func(n int) ([]byte, bool) { return put[n], put[n] != nil }), nil
	}
	top := root.Content
	docEnd := documentEnd(lines, root.Line)
	for i := 0; i+1 < len(top); i += 2 {
		k, v := top[i], resolve(top[i+1])
		end := docEnd
		if i+2 < len(top) {
			end = top[i+2].Line - 1
		}
		switch {
		case releaseSections[k.Value]:
			keepRange(k.Line, end, k.Column)
			part = append(part, k, top[i+1])
		case k.Value == "cluster" && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0:
			// The key alone: a comment beside it may be about the rest.
			put[k.Line] = indent(k.Column, []byte("cluster:"))
			for j := 0; j+1 < len(v.Content); j += 2 {
				ck := v.Content[j]
				cend := end
				if j+2 < len(v.Content) {
					cend = v.Content[j+2].Line - 1
				}
				if releaseCluster[ck.Value] {
					keepRange(ck.Line, cend, ck.Column)
					part = append(part, ck, v.Content[j+1])
				}
			}
		case k.Value == "cluster" && v.Kind == yaml.MappingNode:
			if sub := clusterPart(v); sub != nil {
				b, err := marshalFlow(sub)
				if err != nil {
					return nil, fmt.Errorf("release text: %w", err)
				}
				put[k.Line] = indent(k.Column, append([]byte("cluster: "), bytes.TrimRight(b, "\n")...))
				part = append(part, sub.Content...)
			}
		}
	}
	if err := checkAliases(part, in); err != nil {
		return nil, err
	}
	return blankLines(lines, func(n int) ([]byte, bool) {
		if put[n] != nil {
			return put[n], true
		}
		if keep[n] {
			return bytes.TrimSuffix(lines[n-1], []byte("\n")), true
		}
		return nil, false
	}), nil
}

// marshalFlow encodes n, a flow-style mapping of nodes from the file,
// on one line. A null the file wrote as nothing ({fresh_for}) is written
// "null", which reads back as the same null.
func marshalFlow(n *yaml.Node) ([]byte, error) {
	var nulls func(n *yaml.Node)
	nulls = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && isNull(n) {
			n.Value, n.Style = "null", 0
		}
		for _, c := range n.Content {
			nulls(c)
		}
	}
	nulls(n)
	return yaml.Marshal(n)
}

// blankLines returns lines with line n (1-based) replaced by what text
// returns for it, or blank; every newline is kept.
func blankLines(lines [][]byte, text func(n int) ([]byte, bool)) []byte {
	var out bytes.Buffer
	for i, l := range lines {
		if text != nil {
			if t, ok := text(i + 1); ok {
				out.Write(t)
			}
		}
		if bytes.HasSuffix(l, []byte("\n")) {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// indent prefixes b with the spaces that put it at column col (1-based).
func indent(col int, b []byte) []byte {
	return append(bytes.Repeat([]byte(" "), max(col-1, 0)), b...)
}

// trailing reports whether line is blank or a comment that starts at
// column col or left of it.
func trailing(line []byte, col int) bool {
	t := bytes.TrimLeft(line, " \t")
	if len(bytes.TrimSpace(t)) == 0 {
		return true
	}
	return t[0] == '#' && len(line)-len(t) < col
}

// documentEnd is the last line (1-based) of the YAML document whose root
// starts on line from: the line before a document marker ("---" or "...")
// at the start of a line, or the last line. Parse accepts a file of one
// document; what follows its end marker (comments only) is not part of
// the document.
func documentEnd(lines [][]byte, from int) int {
	for i := from; i < len(lines); i++ { // lines[i] is line i+1
		l := bytes.TrimRight(lines[i], "\r\n")
		for _, m := range []string{"---", "..."} {
			if rest, ok := bytes.CutPrefix(l, []byte(m)); ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t') {
				return i
			}
		}
	}
	return len(lines)
}

// checkAliases marks the nodes of part (and everything under them) in
// in, and refuses an alias among them whose anchor is not: the anchor
// would be blanked, and the text would not parse on any site.
func checkAliases(part []*yaml.Node, in map[*yaml.Node]bool) error {
	var all []*yaml.Node
	var mark func(n *yaml.Node)
	mark = func(n *yaml.Node) {
		if in[n] {
			return
		}
		in[n] = true
		all = append(all, n)
		for _, c := range n.Content {
			mark(c)
		}
	}
	for _, n := range part {
		mark(n)
	}
	for _, n := range all {
		if n.Kind == yaml.AliasNode && n.Alias != nil && !in[n.Alias] {
			return fmt.Errorf("release text: line %d: alias *%s refers to an anchor on line %d, which is not part of a release (a site's own setting); repeat the value instead",
				n.Line, n.Value, n.Alias.Line)
		}
	}
	return nil
}

// clusterPart is a flow-style mapping of the release keys of a cluster
// section, or nil when it has none.
func clusterPart(v *yaml.Node) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		return nil
	}
	sub := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for j := 0; j+1 < len(v.Content); j += 2 {
		if releaseCluster[v.Content[j].Value] {
			sub.Content = append(sub.Content, v.Content[j], v.Content[j+1])
		}
	}
	if len(sub.Content) == 0 {
		return nil
	}
	return sub
}

// ParseRelease parses the steering configuration of a release (the text
// ReleaseText made): its regions, pools, ecs and the cluster's decision
// rules, validated as Parse validates them, with the defaults of the keys
// it leaves out, and nothing from the environment or flags: a release is
// the same on every site. Any other key is an error. name is the name in
// errors; relative paths in it (a check's tls_ca_file) are resolved
// against dir, the receiving site's configuration directory.
func ParseRelease(dir, name string, data []byte) (*Config, error) {
	return parse(filepath.Join(dir, name), data, nil, modeRelease)
}

// onlyReleaseKeys reports the keys of the file that a release must not
// carry.
func (p *parser) onlyReleaseKeys() {
	for name, lf := range p.leaves {
		if !isReleaseKey(name) {
			p.errs = append(p.errs, &Error{File: p.name, Line: lf.line, Key: name,
				Msg: "not part of a release: a site's own setting stays in its own configuration"})
		}
	}
}

// ReleaseSource returns the configuration file a release is built from:
// its name and contents (the embedded default when cfg has no file).
func ReleaseSource(cfg *Config) (name string, data []byte, err error) {
	if cfg.File == "" {
		return defaultName, aya.DefaultConfig, nil
	}
	data, err = os.ReadFile(cfg.File)
	return cfg.File, data, err
}

// ReleaseOverrides lists the environment variables set for release keys:
// a release is built from the file alone, so they do not apply to it.
func ReleaseOverrides() []string {
	var out []string
	for _, k := range keys() {
		if !k.fileOnly && isReleaseKey(k.name) && os.Getenv(envName(k.name)) != "" {
			out = append(out, envName(k.name))
		}
	}
	return out
}
