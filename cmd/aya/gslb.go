package main

import (
	"fmt"
	"log/slog"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// pools maps the configuration's pools onto the policy's.
func pools(cfg *config.Config) []*policy.Pool {
	out := make([]*policy.Pool, 0, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		p := &policy.Pool{
			Name:          pc.Name,
			TTL:           pc.TTL,
			Answers:       pc.Answers,
			CountryMap:    pc.CountryMap,
			ContinentMap:  pc.ContinentMap,
			FallbackAddrs: pc.FallbackAddrs,
		}
		switch pc.Fallback {
		case "fallback_addresses":
			p.Fallback = policy.FallbackAddrs
		case "servfail":
			p.Fallback = policy.Servfail
		default:
			p.Fallback = policy.FailOpen
		}
		for _, f := range pc.Fences {
			p.Fences = append(p.Fences, policy.Fence{Name: f.Name, Countries: f.Countries, Continents: f.Continents, Regions: f.Regions})
		}
		for _, m := range pc.Members {
			rc, _ := cfg.Region(m.Region) // validated: it exists
			mem := policy.Member{
				Region: policy.Region{Name: rc.Name, Latitude: rc.Latitude, Longitude: rc.Longitude, Country: rc.Country, Continent: rc.Continent},
				BiasKm: m.BiasKm,
				MinUp:  m.MinEndpoints,
			}
			for _, e := range m.Endpoints {
				mem.Endpoints = append(mem.Endpoints, policy.Endpoint{Name: e.Name, Addrs: e.Addrs, Weight: e.Weight})
			}
			p.Members = append(p.Members, mem)
		}
		out = append(out, p)
	}
	return out
}

// openGeo opens the configured database; with none configured, clients have
// no location and pools rank by member order.
func openGeo(cfg *config.Config, log *slog.Logger) (*geo.DB, error) {
	if cfg.Geo.Database == "" {
		return nil, nil
	}
	db, err := geo.Open(geo.Config{Database: cfg.Geo.Database, Overrides: cfg.Geo.Overrides, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	return db, nil
}

// gslbConfig is the DNS server's view of the steering configuration.
func gslbConfig(cfg *config.Config, db *geo.DB, st state.Source) dnsserver.GSLB {
	g := dnsserver.GSLB{
		Pools: pools(cfg),
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
