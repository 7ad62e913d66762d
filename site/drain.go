package site

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/internal/httpjson"
	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/state"
)

// DrainRequest is the body of POST /v1/drain and /v1/undrain. Target is a
// region ("eu-west") or an endpoint ("pool/region/endpoint").
type DrainRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by"`
}

// DrainResponse is the answer of POST /v1/drain and /v1/undrain, read
// from the node's state before the command was applied: what the drain
// replaced, or that nothing changed.
type DrainResponse struct {
	OK bool `json:"ok"`
	// Replaced is the reason ("reason (by who)") of the drain this one
	// replaced; "" when the target was not drained.
	Replaced string `json:"replaced,omitempty"`
	// Unchanged is true when the target was already drained with the same
	// reason and by the same person: the log records nothing new.
	Unchanged bool `json:"unchanged,omitempty"`
	// Why is what the state records of the drain: "reason (by who)".
	Why string `json:"why,omitempty"`
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
			return "", nil, fmt.Errorf("unknown region %q%s", target, names.DidYouMean(target, cfg.RegionNames()))
		}
		return target, nil, nil
	case 3:
		k := state.EndpointKey{Pool: parts[0], Region: parts[1], Endpoint: parts[2]}
		p, ok := cfg.Pool(k.Pool)
		if !ok {
			return "", nil, fmt.Errorf("unknown pool %q%s", k.Pool, names.DidYouMean(k.Pool, cfg.PoolNames()))
		}
		var regions, eps []string
		for _, m := range p.Members {
			regions = append(regions, m.Region)
			if m.Region != k.Region {
				continue
			}
			for _, e := range m.Endpoints {
				if e.Name == k.Endpoint {
					return "", &k, nil
				}
				eps = append(eps, e.Name)
			}
		}
		if !slices.Contains(regions, k.Region) {
			return "", nil, fmt.Errorf("pool %s has no region %q%s", k.Pool, k.Region, names.DidYouMean(k.Region, regions))
		}
		return "", nil, fmt.Errorf("pool %s has no endpoint %q in region %s%s", k.Pool, k.Endpoint, k.Region, names.DidYouMean(k.Endpoint, eps))
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
			// What the target is now, from this node's state: what a drain
			// replaces, or that an undrain has nothing to undo.
			cur, drained := "", false
			var targets []string
			for _, d := range node.View().Drains {
				targets = append(targets, d.Target())
				if d.Target() == req.Target {
					cur, drained = d.Why, true
				}
			}
			resp := DrainResponse{OK: true}
			if !drain && !drained {
				msg := fmt.Sprintf("%s is not drained", req.Target)
				if g := names.Closest(req.Target, targets); g != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", g)
				} else if len(targets) == 0 {
					msg += " (nothing is)"
				} else {
					msg += " (drained: " + strings.Join(targets, ", ") + ")"
				}
				httpjson.Error(w, http.StatusConflict, msg)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), cluster.DefaultApplyTimeout)
			defer cancel()
			if drain {
				d := cluster.Drain{Region: region, Endpoint: ep, Reason: req.Reason, By: req.By}
				resp.Why = d.Why()
				switch {
				case drained && cur == resp.Why:
					resp.Unchanged = true
				case drained:
					resp.Replaced = cur
				}
				err = node.Drain(ctx, d)
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
			httpjson.Write(w, http.StatusOK, resp)
		})
	}
	return []admin.Route{
		{Pattern: "POST " + PathDrain, Handler: handle(true), Auth: true},
		{Pattern: "POST " + PathUndrain, Handler: handle(false), Auth: true},
	}
}
