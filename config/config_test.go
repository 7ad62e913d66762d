package config

import (
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "aya.yaml", Line: 14, Key: "dns.max_udp_size", Msg: "must be between 512 and 65535 (got 100)"},
			"aya.yaml:14: dns.max_udp_size: must be between 512 and 65535 (got 100)"},
		{Error{File: "aya.yaml", Key: "dns.zones_dir", Msg: "required"}, "aya.yaml: dns.zones_dir: required"},
		{Error{File: "aya.yaml", Line: 3, Msg: "yaml: did not find expected key"}, "aya.yaml:3: yaml: did not find expected key"},
		{Error{File: "aya.yaml", Key: "dns.listen[0]", Msg: "m", Origin: "AYA_DNS_LISTEN"}, "AYA_DNS_LISTEN: dns.listen[0]: m"},
		{Error{File: "aya.yaml", Line: 4, Key: "log.level", Msg: "m", Origin: "flag --log-level"}, "flag --log-level: log.level: m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"", slog.LevelInfo},
	}
	for _, tc := range tests {
		c := &Config{Log: LogConfig{Level: tc.level}}
		if got := c.SlogLevel(); got != tc.want {
			t.Errorf("SlogLevel(%q) = %v, want %v", tc.level, got, tc.want)
		}
	}
}

// TestTagsMatchKeys keeps the documenting mapstructure tags on Config and
// the key table Load uses in step, and checks each key fills the field its
// tags name.
func TestTagsMatchKeys(t *testing.T) {
	// The proxy package's types name their keys with yaml tags; the
	// ProxyConfig squashes its Config in.
	var tagged []string
	var walk func(rt reflect.Type, prefix string)
	walk = func(rt reflect.Type, prefix string) {
		for f := range rt.Fields() {
			tag := f.Tag.Get("mapstructure")
			if rt.PkgPath() == "github.com/aya-gslb/aya/proxy" {
				tag = yamlName(f)
				if tag == "" {
					tag = "-"
				}
			}
			if tag == "" {
				t.Errorf("%s.%s has no mapstructure tag", rt.Name(), f.Name)
				continue
			}
			if tag == "-" {
				continue
			}
			if tag == ",squash" {
				walk(f.Type, prefix)
				continue
			}
			path := joinKey(prefix, tag)
			ft := f.Type
			if ft == reflect.TypeFor[*ProxyConfig]() { // the optional section
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, path)
				continue
			}
			tagged = append(tagged, path)
		}
	}
	walk(reflect.TypeFor[Config](), "")

	var names []string
	for _, k := range keys() {
		names = append(names, k.name)
		// The field pointer must lead to the field the tags name.
		c := Config{Proxy: &ProxyConfig{}}
		ptr := reflect.ValueOf(k.field(&c)).Pointer()
		v := reflect.ValueOf(&c).Elem()
		for part := range strings.SplitSeq(k.name, ".") {
			if v.Kind() == reflect.Pointer {
				v = v.Elem()
			}
			v = fieldByTag(v, part)
		}
		if v.Addr().Pointer() != ptr {
			t.Errorf("key %s fills a field other than the one its tags name", k.name)
		}
	}
	if !slices.Equal(tagged, names) {
		t.Errorf("mapstructure tags %v\ndiffer from the key table %v", tagged, names)
	}
}

// fieldByTag is the field of struct v that the tag (mapstructure, or yaml
// in the proxy package) names, looking into squashed fields too.
func fieldByTag(v reflect.Value, name string) reflect.Value {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		tag := f.Tag.Get("mapstructure")
		if v.Type().PkgPath() == "github.com/aya-gslb/aya/proxy" {
			tag = yamlName(f)
		}
		if tag == ",squash" {
			if fv := fieldByTag(v.Field(i), name); fv.IsValid() {
				return fv
			}
		}
		if tag == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}
