package site

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/internal/httpjson"
	"github.com/aya-gslb/aya/state"
)

// DrainRequest is the body of POST /v1/drain and /v1/undrain. Target is a
// region ("eu-west") or an endpoint ("pool/region/endpoint").
type DrainRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by"`
}

// Paths of the drain API.
const (
	PathDrain   = "/v1/drain"
	PathUndrain = "/v1/undrain"
)

// ParseTarget checks a drain target against the configuration: a region
// name, or pool/region/endpoint.
func ParseTarget(cfg *config.Config, target string) (region string, ep *state.EndpointKey, err error) {
	parts := strings.Split(target, "/")
	switch len(parts) {
	case 1:
		if _, ok := cfg.Region(target); !ok {
			return "", nil, fmt.Errorf("unknown region %q", target)
		}
		return target, nil, nil
	case 3:
		k := state.EndpointKey{Pool: parts[0], Region: parts[1], Endpoint: parts[2]}
		p, ok := cfg.Pool(k.Pool)
		if !ok {
			return "", nil, fmt.Errorf("unknown pool %q", k.Pool)
		}
		for _, m := range p.Members {
			if m.Region != k.Region {
				continue
			}
			for _, e := range m.Endpoints {
				if e.Name == k.Endpoint {
					return "", &k, nil
				}
			}
		}
		return "", nil, fmt.Errorf("pool %s has no endpoint %s in region %s", k.Pool, k.Endpoint, k.Region)
	}
	return "", nil, fmt.Errorf("target %q: want a region, or pool/region/endpoint", target)
}

// DrainRoutes are the admin routes of aya drain and aya undrain; cfg
// returns the running configuration.
func DrainRoutes(node *cluster.Node, cfg func() *config.Config) []admin.Route {
	handle := func(drain bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req DrainRequest
			if !httpjson.Read(w, r, &req) {
				return
			}
			region, ep, err := ParseTarget(cfg(), req.Target)
			switch {
			case err != nil:
			case req.By == "":
				err = errors.New("by: who drains is required")
			case drain && req.Reason == "":
				err = errors.New("reason: required")
			}
			if err != nil {
				httpjson.Error(w, http.StatusBadRequest, err.Error())
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), cluster.DefaultApplyTimeout)
			defer cancel()
			if drain {
				err = node.Drain(ctx, cluster.Drain{Region: region, Endpoint: ep, Reason: req.Reason, By: req.By})
			} else {
				err = node.Undrain(ctx, cluster.Undrain{Region: region, Endpoint: ep, By: req.By})
			}
			if err != nil {
				status := http.StatusServiceUnavailable
				if ae, ok := errors.AsType[*cluster.APIError](err); ok {
					status = ae.Status
				}
				httpjson.Error(w, status, err.Error())
				return
			}
			httpjson.Write(w, http.StatusOK, map[string]bool{"ok": true})
		})
	}
	return []admin.Route{
		{Pattern: "POST " + PathDrain, Handler: handle(true), Auth: true},
		{Pattern: "POST " + PathUndrain, Handler: handle(false), Auth: true},
	}
}
