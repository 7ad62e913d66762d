package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/proxy"
)

// TestDocs keeps docs/configuration.md true to the code (as CoreDNS's
// readme_test does): every key has a table row naming its environment
// variable, flag and default (or saying it is file only), every field of
// the items of regions, pools and the proxy lists has a row, and every
// YAML example loads (with ParseProxy when it has no dns section).
func TestDocs(t *testing.T) {
	clearEnv(t)
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)

	rowOf := func(name string) string {
		return regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\|.*$").FindString(doc)
	}
	for _, k := range keys() {
		row := rowOf(k.name)
		if row == "" {
			t.Errorf("docs: no table row for %s", k.name)
			continue
		}
		if k.fileOnly {
			if !strings.Contains(row, "file only") {
				t.Errorf("docs: row for %s does not say it is file only: %s", k.name, row)
			}
			continue
		}
		if !strings.Contains(row, "`"+envName(k.name)+"`") {
			t.Errorf("docs: row for %s does not name %s: %s", k.name, envName(k.name), row)
		}
		switch def := k.def.(type) {
		case []string:
			// Empty lists are described in words.
		case string:
			if def != "" && !strings.Contains(row, "`"+def+"`") {
				t.Errorf("docs: row for %s does not give its default %q: %s", k.name, def, row)
			}
		default:
			if !strings.Contains(row, "`"+fmt.Sprint(def)+"`") {
				t.Errorf("docs: row for %s does not give its default %v: %s", k.name, def, row)
			}
		}
		if k.flag != "" && !strings.Contains(row, "`--"+k.flag+"`") {
			t.Errorf("docs: row for %s does not name --%s: %s", k.name, k.flag, row)
		}
	}

	// Every field of the items of regions and pools has a row too.
	items := []struct {
		prefix string
		fields []string
	}{
		{"regions[].", regionFields},
		{"pools[].", poolFields},
		{"pools[].fences[].", fenceFields},
		{"pools[].members[].", memberFields},
		{"pools[].members[].endpoints[].", endpointFields},
		{"pools[].check.", checkFields},
		{"proxy.listeners[].", proxyItemFields(reflect.TypeFor[proxy.Listener]())},
		{"proxy.listeners[].certs[].", proxyItemFields(reflect.TypeFor[proxy.Cert]())},
		{"proxy.routes[].", proxyItemFields(reflect.TypeFor[proxy.Route]())},
		{"proxy.pools[].", proxyItemFields(reflect.TypeFor[proxy.Pool]())},
		{"proxy.pools[].sticky.", proxyItemFields(reflect.TypeFor[proxy.Sticky]())},
		{"proxy.pools[].backends[].", proxyItemFields(reflect.TypeFor[proxy.Backend]())},
	}
	for _, it := range items {
		for _, f := range it.fields {
			if rowOf(it.prefix+f) == "" {
				t.Errorf("docs: no table row for %s%s", it.prefix, f)
			}
		}
	}

	examples := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(examples) == 0 {
		t.Fatal("docs: no yaml examples")
	}
	// An example without a dns section is a proxy-only file, for `aya
	// proxy`; the others are for `aya serve`.
	dnsSection := regexp.MustCompile(`(?m)^dns:`)
	for i, m := range examples {
		parse := Parse
		if !dnsSection.MatchString(m[1]) {
			parse = ParseProxy
		}
		if _, err := parse("configuration.md", []byte(m[1]), nil); err != nil {
			t.Errorf("docs: yaml example %d does not load:\n%v", i, err)
		}
	}
}
