package dnssec

import (
	"errors"
	"fmt"
	"time"
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
	DefaultKeysDir         = "keys"
)

// Config is the signer's part of aya.yaml, the dnssec section (the config
// package reads it: keys dnssec.*, with these defaults and Validate's rules).
type Config struct {
	// Validity is how long a new signature is valid from now (default
	// 14 days, 336h), less its jitter.
	Validity time.Duration `mapstructure:"validity"`
	// Refresh: the zone is signed again when its first signature has
	// this much left (default 7 days, 168h); that signing renews every
	// signature with less than Refresh + Jitter left. It must exceed the
	// zone's largest TTL plus Propagation, so that a cached signature
	// outlives its TTL.
	Refresh time.Duration `mapstructure:"refresh"`
	// Jitter: each RRset's signatures expire up to this much earlier than
	// Validity (default 12h), by a hash of the RRset and key, so that
	// they do not all come due at once; the same RRset gets the same
	// jitter at every signing.
	Jitter time.Duration `mapstructure:"jitter"`
	// InceptionOffset back-dates inception for resolvers whose clocks are
	// behind (default 1h).
	InceptionOffset time.Duration `mapstructure:"inception_offset"`
	// MaxAnswerSets bounds the RRsets one pool may need signed (default
	// DefaultMaxAnswerSets, 4096); see PoolAnswers.
	MaxAnswerSets int `mapstructure:"max_answer_sets"`
	// Propagation is how long a new release takes to reach every site
	// (default 1h).
	Propagation time.Duration `mapstructure:"propagation"`
	// DSTTL is the parent's DS TTL (default 24h), ParentDelay how long
	// the parent takes to act on a DS change (default 24h).
	DSTTL       time.Duration `mapstructure:"ds_ttl"`
	ParentDelay time.Duration `mapstructure:"parent_delay"`
	// ZSKLifetime (default 90 days, 2160h) and KSKLifetime (default 0:
	// no scheduled roll) are how long a key signs before its successor
	// takes over.
	ZSKLifetime time.Duration `mapstructure:"zsk_lifetime"`
	KSKLifetime time.Duration `mapstructure:"ksk_lifetime"`
	// Algorithm of new keys: ecdsap256sha256 (default) or ed25519.
	Algorithm string `mapstructure:"algorithm"`
	// KeysDir holds the K*.key and K*.private files (default "keys").
	KeysDir string `mapstructure:"keys_dir"`
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
		c.KeysDir = DefaultKeysDir
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

// RollTimings is c's rollover intervals for keys, without the zone at
// hand: the DNSKEY TTL is the keys' largest, and the zone's largest TTL is
// taken at its bound, Refresh less Propagation (a zone with a larger TTL
// is refused by the signer). A retired ZSK then stays published up to
// Refresh after it stops signing: a DNSKEY kept a little longer than the
// signatures it made can be cached, never shorter.
func (c Config) RollTimings(keys []*Key) Timings {
	c = c.WithDefaults()
	keyTTL := uint32(0)
	for _, k := range keys {
		keyTTL = max(keyTTL, k.DNSKEY.Hdr.Ttl)
	}
	return c.Timings(c.Refresh-c.Propagation, time.Duration(keyTTL)*time.Second)
}
