package site

import (
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/release"
)

// Pools maps the configuration's pools onto the policy's.
func Pools(cfg *config.Config) []*policy.Pool {
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

// Rules are the cluster's decision rules of a release's configuration.
func Rules(cfg *config.Config) release.Rules {
	sh := cfg.Cluster.Shed
	r := release.Rules{
		FreshFor:       cfg.Cluster.FreshFor,
		ReportInterval: cfg.Cluster.ReportInterval,
		Shed:           release.Shed{HighWater: sh.HighWater, LowWater: sh.LowWater, MaxFraction: sh.MaxFraction, Step: sh.Step},
	}
	for _, p := range cfg.Pools {
		for _, m := range p.Members {
			if m.MinEndpoints > 1 {
				r.MinUp = append(r.MinUp, release.MinUp{Pool: p.Name, Region: m.Region, N: m.MinEndpoints})
			}
		}
	}
	return r
}
