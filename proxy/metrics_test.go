package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	hold := make(chan struct{})
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			<-hold
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	reg := prometheus.NewRegistry()
	cfg := onePool(b)
	cfg.Routes = []Route{{PathPrefix: "/", Host: "known.test", Pool: "web"}}
	cfg.Registerer = reg
	cfg.RateLimit = RateLimit{Rate: 1000, Burst: 1000}
	p, addr := startProxy(t, cfg)
	c := client()
	get(t, c, "http://"+addr+"/", "Host", "known.test")
	get(t, c, "http://"+addr+"/fail", "Host", "known.test")
	get(t, c, "http://"+addr+"/", "Host", "unknown.test")

	done := make(chan struct{})
	go func() {
		get(t, c, "http://"+addr+"/hold", "Host", "known.test")
		close(done)
	}()
	waitFor(t, func() bool { return p.pools[0].bal.InFlight(0) == 1 })
	want := `
# HELP aya_proxy_backend_in_flight Requests in flight to a backend.
# TYPE aya_proxy_backend_in_flight gauge
aya_proxy_backend_in_flight{backend="a",pool="web"} 1
# HELP aya_proxy_requests_total Requests answered, by pool, backend and status class (backend empty: answered by the proxy).
# TYPE aya_proxy_requests_total counter
aya_proxy_requests_total{backend="",code_class="1xx",pool=""} 0
aya_proxy_requests_total{backend="",code_class="1xx",pool="web"} 0
aya_proxy_requests_total{backend="",code_class="2xx",pool=""} 0
aya_proxy_requests_total{backend="",code_class="2xx",pool="web"} 0
aya_proxy_requests_total{backend="",code_class="3xx",pool=""} 0
aya_proxy_requests_total{backend="",code_class="3xx",pool="web"} 0
aya_proxy_requests_total{backend="",code_class="4xx",pool=""} 1
aya_proxy_requests_total{backend="",code_class="4xx",pool="web"} 0
aya_proxy_requests_total{backend="",code_class="5xx",pool=""} 0
aya_proxy_requests_total{backend="",code_class="5xx",pool="web"} 0
aya_proxy_requests_total{backend="",code_class="other",pool=""} 0
aya_proxy_requests_total{backend="",code_class="other",pool="web"} 0
aya_proxy_requests_total{backend="a",code_class="1xx",pool="web"} 0
aya_proxy_requests_total{backend="a",code_class="2xx",pool="web"} 1
aya_proxy_requests_total{backend="a",code_class="3xx",pool="web"} 0
aya_proxy_requests_total{backend="a",code_class="4xx",pool="web"} 0
aya_proxy_requests_total{backend="a",code_class="5xx",pool="web"} 1
aya_proxy_requests_total{backend="a",code_class="other",pool="web"} 0
# HELP aya_proxy_client_connections Client connections open.
# TYPE aya_proxy_client_connections gauge
aya_proxy_client_connections 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"aya_proxy_backend_in_flight", "aya_proxy_requests_total", "aya_proxy_client_connections"); err != nil {
		t.Error(err)
	}
	close(hold)
	<-done
	if n := testutil.CollectAndCount(reg, "aya_proxy_request_duration_seconds"); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
}

func TestPassiveEjection(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	good := newBackend(t, "good", nil)
	cfg := onePool(bad, good)
	cfg.Pools[0].ConsecutiveFailures = 2
	_, addr := startProxy(t, cfg)
	c := client()
	for range 6 {
		get(t, c, "http://"+addr+"/")
	}
	if n := bad.hits.Load(); n != 2 {
		t.Errorf("the failing backend got %d requests, want 2 before its ejection", n)
	}
	for range 10 {
		if status, body, _ := get(t, c, "http://"+addr+"/"); status != 200 || body != "good" {
			t.Fatalf("after the ejection: %d %q", status, body)
		}
	}
}

// A proxy replacing another on the same registry (a reload) builds, and
// carries the counters on.
func TestMetricsAcrossReload(t *testing.T) {
	b := newBackend(t, "a", nil)
	reg := prometheus.NewRegistry()
	cfg := onePool(b)
	cfg.Registerer = reg
	_, addr1 := startProxy(t, cfg)
	get(t, client(), "http://"+addr1+"/")
	_, addr2 := startProxy(t, cfg)
	get(t, client(), "http://"+addr2+"/")
	if n := testutil.ToFloat64(mustCounter(t, reg, "web", "a", "2xx")); n != 2 {
		t.Errorf("requests_total{web,a,2xx} = %v, want 2", n)
	}
	if n := testutil.CollectAndCount(reg, "aya_proxy_client_connections"); n != 1 {
		t.Errorf("%d client_connections series, want 1", n)
	}
}
