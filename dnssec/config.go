package dnssec

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of Config.
const (
	DefaultValidity        = 14 * 24 * time.Hour
	DefaultRefresh         = 7 * 24 * time.Hour
	DefaultJitter          = 12 * time.Hour
	DefaultInceptionOffset = time.Hour
	DefaultPropagation     = time.Hour
	DefaultDSTTL           = 24 * time.Hour
	DefaultParentDelay     = 24 * time.Hour
	DefaultZSKLifetime     = 90 * 24 * time.Hour
	DefaultAlgorithm       = "ecdsap256sha256"
)

// Config is the signer's part of aya.yaml, the dnssec section.
type Config struct {
	// Validity is how long a new signature is valid from now (default
	// 14 days, 336h), less its jitter.
	Validity time.Duration
	// Refresh: the zone is signed again when its first signature has
	// this much left (default 7 days, 168h); that signing renews every
	// signature with less than Refresh + Jitter left. It must exceed the
	// zone's largest TTL plus Propagation, so that a cached signature
	// outlives its TTL.
	Refresh time.Duration
	// Jitter: each RRset's signatures expire up to this much earlier than
	// Validity (default 12h), by a hash of the RRset and key, so that
	// they do not all come due at once; the same RRset gets the same
	// jitter at every signing.
	Jitter time.Duration
	// InceptionOffset back-dates inception for resolvers whose clocks are
	// behind (default 1h).
	InceptionOffset time.Duration
	// MaxAnswerSets bounds the RRsets one pool may need signed (default
	// DefaultMaxAnswerSets, 4096); see PoolAnswers.
	MaxAnswerSets int
	// Propagation is how long a new release takes to reach every site
	// (default 1h).
	Propagation time.Duration
	// DSTTL is the parent's DS TTL (default 24h), ParentDelay how long
	// the parent takes to act on a DS change (default 24h).
	DSTTL, ParentDelay time.Duration
	// ZSKLifetime (default 90 days, 2160h) and KSKLifetime (default 0:
	// no scheduled roll) are how long a key signs before its successor
	// takes over.
	ZSKLifetime, KSKLifetime time.Duration
	// Algorithm of new keys: ecdsap256sha256 (default) or ed25519.
	Algorithm string
	// KeysDir holds the K*.key and K*.private files (default "keys").
	KeysDir string
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Validity, DefaultValidity)
	def(&c.Refresh, DefaultRefresh)
	def(&c.Jitter, DefaultJitter)
	def(&c.InceptionOffset, DefaultInceptionOffset)
	def(&c.Propagation, DefaultPropagation)
	def(&c.DSTTL, DefaultDSTTL)
	def(&c.ParentDelay, DefaultParentDelay)
	def(&c.ZSKLifetime, DefaultZSKLifetime)
	if c.MaxAnswerSets == 0 {
		c.MaxAnswerSets = DefaultMaxAnswerSets
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.KeysDir == "" {
		c.KeysDir = "keys"
	}
	return c
}

// Validate checks c (after WithDefaults). The rule that involves the
// zone's TTLs (Refresh against the largest TTL) is checked when signing.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("dnssec.%s: %v: must not be negative", name, d))
		}
	}
	pos("validity", c.Validity)
	pos("refresh", c.Refresh)
	pos("jitter", c.Jitter)
	pos("inception_offset", c.InceptionOffset)
	pos("propagation", c.Propagation)
	pos("ds_ttl", c.DSTTL)
	pos("parent_delay", c.ParentDelay)
	pos("zsk_lifetime", c.ZSKLifetime)
	pos("ksk_lifetime", c.KSKLifetime)
	if c.Refresh+c.Jitter >= c.Validity {
		errs = append(errs, fmt.Errorf("dnssec.refresh (%v) plus dnssec.jitter (%v) must be less than dnssec.validity (%v): signatures would be due for renewal when made", c.Refresh, c.Jitter, c.Validity))
	}
	if c.MaxAnswerSets < 1 {
		errs = append(errs, fmt.Errorf("dnssec.max_answer_sets: %d: must be at least 1", c.MaxAnswerSets))
	}
	if _, err := ParseAlgorithm(c.Algorithm); err != nil {
		errs = append(errs, fmt.Errorf("dnssec.algorithm: %w", err))
	}
	return errors.Join(errs...)
}

// Timings is c's rollover intervals for a zone whose largest TTL is
// maxTTL and whose DNSKEY TTL is keyTTL.
func (c Config) Timings(maxTTL, keyTTL time.Duration) Timings {
	return Timings{
		Propagation: c.Propagation, MaxTTL: maxTTL, DNSKEYTTL: keyTTL,
		DSTTL: c.DSTTL, ParentDelay: c.ParentDelay,
		ZSKLifetime: c.ZSKLifetime, KSKLifetime: c.KSKLifetime,
	}
}

// configKeys maps the dnssec section's keys to their fields.
func configKeys(c *Config) map[string]any {
	return map[string]any{
		"validity":         &c.Validity,
		"refresh":          &c.Refresh,
		"jitter":           &c.Jitter,
		"inception_offset": &c.InceptionOffset,
		"max_answer_sets":  &c.MaxAnswerSets,
		"propagation":      &c.Propagation,
		"ds_ttl":           &c.DSTTL,
		"parent_delay":     &c.ParentDelay,
		"zsk_lifetime":     &c.ZSKLifetime,
		"ksk_lifetime":     &c.KSKLifetime,
		"algorithm":        &c.Algorithm,
		"keys_dir":         &c.KeysDir,
	}
}

// ParseConfig reads the dnssec section of a YAML configuration (the rest
// of the document is not looked at; the config package owns it) and
// returns it with defaults applied and validated. Errors name file:line
// and the key. A document without a dnssec section gives the defaults.
func ParseConfig(r io.Reader, file string) (Config, error) {
	var c Config
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return c, fmt.Errorf("%s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return c, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return c.WithDefaults(), nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return c, fmt.Errorf("%s:%d: the document is not a mapping", file, root.Line)
	}
	var sec *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "dnssec" {
			sec = root.Content[i+1]
		}
	}
	if sec == nil || sec.Kind == yaml.ScalarNode && sec.Tag == "!!null" {
		return c.WithDefaults(), nil
	}
	if sec.Kind != yaml.MappingNode {
		return c, fmt.Errorf("%s:%d: dnssec: want a mapping", file, sec.Line)
	}
	fields := configKeys(&c)
	var errs []error
	for i := 0; i+1 < len(sec.Content); i += 2 {
		k, v := sec.Content[i], sec.Content[i+1]
		at := fmt.Sprintf("%s:%d: dnssec.%s", file, k.Line, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key%s", at, didYouMean(k.Value, fields)))
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s: want a single value", at))
			continue
		}
		switch f := f.(type) {
		case *time.Duration:
			d, err := time.ParseDuration(v.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q: want a duration such as 336h", at, v.Value))
				continue
			}
			*f = d
		case *int:
			n, err := strconv.Atoi(v.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q: want an integer", at, v.Value))
				continue
			}
			*f = n
		case *string:
			*f = v.Value
		}
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s:%d: %w", file, sec.Line, err)
	}
	return c, nil
}

// didYouMean suggests the known key nearest to name (one edit, or a
// shared prefix), as the config package does for its keys.
func didYouMean(name string, fields map[string]any) string {
	best, bestD := "", 3
	for k := range fields {
		if d := editDistance(name, k); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

func editDistance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
