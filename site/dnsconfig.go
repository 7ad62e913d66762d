package site

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/state"
)

// OpenGeo opens the configured database, verified whole; with none
// configured, clients have no location and pools rank by member order.
func OpenGeo(cfg *config.Config, log *slog.Logger) (*geo.DB, error) {
	return openGeo(cfg, log, false)
}

// OpenServingGeo is OpenGeo for a serving site: the database is checked for
// its layout only and is ready at once (milliseconds for a full GeoLite2
// City, against seconds for the whole walk); Site.Start verifies it whole
// in the background (geo.DB.Verify), and drops it should it fail.
func OpenServingGeo(cfg *config.Config, log *slog.Logger) (*geo.DB, error) {
	return openGeo(cfg, log, true)
}

func openGeo(cfg *config.Config, log *slog.Logger, deferVerify bool) (*geo.DB, error) {
	if cfg.Geo.Database == "" {
		return nil, nil
	}
	db, err := geo.Open(geo.Config{Database: cfg.Geo.Database, Overrides: cfg.Geo.Overrides,
		MaxFileBytes: cfg.Geo.MaxFileBytes, DeferVerify: deferVerify, Logger: log})
	if err != nil {
		return nil, geoError(cfg, err)
	}
	return db, nil
}

// geoError places a geo file that does not read at its key
// ("aya.yaml:12: geo.database: …"); other problems, which name their
// file, get a "geo: " prefix.
func geoError(cfg *config.Config, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		fe, ok := errors.AsType[*geo.FileError](e)
		switch {
		case ok && fe.Path == cfg.Geo.Database:
			out[i] = cfg.KeyError("geo.database", e)
		case ok && fe.Path == cfg.Geo.Overrides:
			out[i] = cfg.KeyError("geo.overrides", e)
		default:
			out[i] = fmt.Errorf("geo: %w", e)
		}
	}
	return errors.Join(out...)
}

// GSLB is the DNS server's view of the steering configuration.
func GSLB(cfg *config.Config, db *geo.DB, st state.Source) dnsserver.GSLB {
	g := dnsserver.GSLB{
		Pools: Pools(cfg),
		State: st,
		ECS: dnsserver.ECSConfig{
			MaxPrefixV4: cfg.ECS.MaxPrefixV4,
			MaxPrefixV6: cfg.ECS.MaxPrefixV6,
			Trusted:     cfg.ECS.TrustedPrefixes,
		},
	}
	if db != nil {
		g.Geo = db
	}
	return g
}
