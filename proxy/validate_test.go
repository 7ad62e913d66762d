package proxy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// validConfig is a Config that passes Validate as it is.
func validConfig() Config {
	return Config{
		Listeners: []Listener{{Addr: "127.0.0.1:8080"}},
		Routes:    []Route{{Pool: "web"}},
		Pools:     []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: "127.0.0.1:9001"}}}},
	}.WithDefaults()
}

// TestValidate has a row per rule that config's tests do not reach
// through a file, and the key paths under a root.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"negative failures", func(c *Config) { c.Pools[0].ConsecutiveFailures = -1 },
			"proxy.pools[0].consecutive_failures: must be at least 0 (got -1)"},
		{"negative eject", func(c *Config) { c.Pools[0].EjectFor = -time.Second },
			"proxy.pools[0].eject_for: must be greater than 0 (got -1s)"},
		{"max below eject", func(c *Config) { c.Pools[0].EjectFor, c.Pools[0].MaxEjectFor = time.Minute, time.Second },
			"proxy.pools[0].max_eject_for: must be at least proxy.pools[0].eject_for (got 1s, eject_for 1m0s)"},
		{"negative slow start", func(c *Config) { c.Pools[0].SlowStart = -time.Second },
			"proxy.pools[0].slow_start: must be at least 0 (got -1s)"},
		{"zero weight", func(c *Config) { c.Pools[0].Backends[0].Weight = 0 },
			"proxy.pools[0].backends[0].weight: must be at least 1 (got 0)"},
		{"backend host name", func(c *Config) { c.Pools[0].Backends[0].Addr = "app.internal:80" },
			`proxy.pools[0].backends[0].address: host must be an IP address (got "app.internal")`},
		{"invalid prefix", func(c *Config) { c.TrustedProxies = append(c.TrustedProxies, netip.Prefix{}) },
			"proxy.trusted_proxies[0]: must be a CIDR prefix (got invalid Prefix)"},
		{"rate too high", func(c *Config) { c.RateLimit.Rate = 2e6 },
			"proxy.rate_limit.rate: must be between 0 and 1000000 (got 2000000)"},
		{"duplicate pool", func(c *Config) { c.Pools = append(c.Pools, c.Pools[0]) },
			`proxy.pools[1].name: duplicate of proxy.pools[0] ("web")`},
		{"route repeated", func(c *Config) { c.Routes = append(c.Routes, Route{PathPrefix: "/", Pool: "web"}) },
			"proxy.routes[1]: same host and path_prefix as proxy.routes[0], so it never matches"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.modify(&c)
			err := c.ValidateAt("proxy")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ValidateAt: %v, want %s", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.want, fe.Key+": ") {
				t.Errorf("field error %+v", fe)
			}
		})
	}
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a valid config: %v", err)
	}
	c.Pools[0].Name = ""
	if err := c.Validate(); err == nil || err.Error() != "pools[0].name: required" {
		t.Errorf("Validate without a root: %v", err)
	}
}

// TestDecodeDefaults: decoding starts from the defaults, so that an
// absent key is its default and a zero stays zero for Validate.
func TestDecodeDefaults(t *testing.T) {
	var c Config
	data := "pools: [{name: web, algorithm: Random, retries: 0, sticky: {}, backends: [{name: a, address: 127.0.0.1:1}, {name: b, address: 127.0.0.1:2, weight: 0}]}]\n" +
		"routes: [{host: WWW.Example.com., pool: web}]\n"
	if err := yaml.Unmarshal([]byte(data), &c); err != nil {
		t.Fatal(err)
	}
	p := c.Pools[0]
	switch {
	case p.Algorithm != "random" || p.Retries != -1 || p.EjectFor != defaultEjectFor || p.MaxIdleConns != defaultMaxIdleConns:
		t.Errorf("pool %+v", p)
	case p.Sticky == nil || p.Sticky.Cookie != defaultStickyCookie:
		t.Errorf("sticky %+v", p.Sticky)
	case p.Backends[0].Weight != 1 || p.Backends[1].Weight != 0:
		t.Errorf("backends %+v", p.Backends)
	case c.Routes[0].Host != "www.example.com":
		t.Errorf("route %+v", c.Routes[0])
	case p.RetryOnTimeout:
		t.Errorf("retry_on_timeout absent: %v, want false", p.RetryOnTimeout)
	}
	if err := yaml.Unmarshal([]byte("pools: [{name: web, retry_on_timeout: true}]\n"), &c); err != nil {
		t.Fatal(err)
	}
	if !c.Pools[0].RetryOnTimeout {
		t.Error("retry_on_timeout: true did not decode")
	}
}
