package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocs keeps docs/configuration.md true to the code (as CoreDNS's
// readme_test does): every key has a table row naming its environment
// variable, flag and default, and every YAML example in it loads.
func TestDocs(t *testing.T) {
	clearEnv(t)
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)

	for _, k := range keys() {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(k.name) + "` \\|.*$").FindString(doc)
		if row == "" {
			t.Errorf("docs: no table row for %s", k.name)
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

	examples := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(examples) == 0 {
		t.Fatal("docs: no yaml examples")
	}
	for i, m := range examples {
		if _, err := Parse("configuration.md", []byte(m[1]), nil); err != nil {
			t.Errorf("docs: yaml example %d does not load:\n%v", i, err)
		}
	}
}
