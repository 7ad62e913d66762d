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
	keepRange := func(from, to int) {
		for l := from; l <= to && l < len(keep); l++ {
			keep[l] = true
		}
	}
	if root.Style&yaml.FlowStyle != 0 {
		m := &yaml.Node{Kind: yaml.MappingNode}
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
		return yaml.Marshal(m)
	}
	top := root.Content
	for i := 0; i+1 < len(top); i += 2 {
		k, v := top[i], resolve(top[i+1])
		end := len(lines)
		if i+2 < len(top) {
			end = top[i+2].Line - 1
		}
		switch {
		case releaseSections[k.Value]:
			keepRange(k.Line, end)
		case k.Value == "cluster" && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0:
			keepRange(k.Line, k.Line)
			for j := 0; j+1 < len(v.Content); j += 2 {
				ck := v.Content[j]
				cend := end
				if j+2 < len(v.Content) {
					cend = v.Content[j+2].Line - 1
				}
				if releaseCluster[ck.Value] {
					keepRange(ck.Line, cend)
				}
			}
		case k.Value == "cluster" && v.Kind == yaml.MappingNode:
			if sub := clusterPart(v); sub != nil {
				b, err := yaml.Marshal(sub)
				if err != nil {
					return nil, fmt.Errorf("release text: %w", err)
				}
				put[k.Line] = append([]byte("cluster: "), bytes.TrimRight(b, "\n")...)
			}
		}
	}
	var out bytes.Buffer
	for i, l := range lines {
		n := i + 1
		nl := bytes.HasSuffix(l, []byte("\n"))
		switch {
		case put[n] != nil:
			out.Write(put[n])
		case keep[n]:
			out.Write(bytes.TrimSuffix(l, []byte("\n")))
		}
		if nl {
			out.WriteByte('\n')
		}
	}
	return out.Bytes(), nil
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
