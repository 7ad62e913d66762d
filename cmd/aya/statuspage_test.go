package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/internal/httpjson"
	"github.com/aya-gslb/aya/release"
	ayasite "github.com/aya-gslb/aya/site"
	"github.com/aya-gslb/aya/site/statuspage"
	"github.com/aya-gslb/aya/state"
)

// These tests load the admin API's status page in a real headless
// Chromium. Without one they skip, unless CI=true, where .ci/run installs
// it and a missing browser is a failure.

// findChromium returns the browser to drive: $AYA_CHROMIUM, or the first of
// the usual names on PATH.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AYA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary found on PATH (nor $AYA_CHROMIUM), and CI=true: .ci/run installs Debian's chromium")
	}
	t.Skip("no chromium binary found on PATH (nor $AYA_CHROMIUM) and CI is not set: apt-get install chromium to run the status page tests")
	return ""
}

// browser is a headless Chromium tab, with what its pages wrote to the
// console.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	// console holds every console API call, uncaught exception and browser
	// log entry (a blocked resource, a CSP violation) of the tab.
	console []chromedp.ConsoleMessage
}

// newBrowser starts Chromium (--no-sandbox when root, which its sandbox
// refuses) with a 1400×1000 window, and stops it at the end of the test.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-gpu", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	// Start the browser now, so that the console is read from the first page.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start %s: %v", findChromium(t), err)
	}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// checkConsole fails the test for every error or exception the page wrote,
// and logs the rest.
func (b *browser) checkConsole(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException:
			t.Errorf("console %s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text)
		default:
			t.Logf("console %s: %s", m.Type, m.Text)
		}
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitPage polls a JavaScript expression until it gives want, and returns
// when it first did.
func waitPage(t *testing.T, b *browser, expr, want string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := eval[string](t, b, expr)
		if got == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s is %q, want %q", within, expr, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// screenshot writes a PNG of the whole page to $AYA_STATUS_SCREENSHOT (with
// suffix before the extension), or into the test's temporary directory.
func (b *browser) screenshot(t *testing.T, suffix string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("AYA_STATUS_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "status.png")
	}
	if suffix != "" {
		ext := filepath.Ext(path)
		path = strings.TrimSuffix(path, ext) + suffix + ext
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// regionState is the page's text for a region's state.
func regionState(pool, region string) string {
	return fmt.Sprintf(`(document.querySelector('#regions tr[data-key="%s/%s"] td.state') || {}).textContent || ""`, pool, region)
}

// TestStatusPage loads the status page of a real three-site cluster and
// stops a backend: the page shows the region down within 2s of the
// decision appearing in /v1/cluster/status, which the page polls every
// second; and nothing on the page writes to the console.
func TestStatusPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers and a browser")
	}
	b := newBrowser(t)
	start := time.Now()
	tc := startCluster(t, 22, nil)
	t.Logf("cluster up in %s", time.Since(start).Round(time.Millisecond))
	s1 := tc.sites[0]

	if err := chromedp.Do(b.ctx, chromedp.Navigate("http://"+s1.adminAddr()+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, regionState("web", "eu-west"), "up", 5*time.Second)
	if got := eval[int](t, b, `document.querySelectorAll('#matrix tbody tr').length`); got != 3 {
		t.Errorf("matrix has %d rows, want the 3 endpoints", got)
	}
	if got := eval[string](t, b, `Array.from(document.querySelectorAll('#matrix thead th')).map(th => th.textContent).join(",")`); got != "Endpoint,Decision,Since,s1,s2,s3" {
		t.Errorf("matrix header %q", got)
	}
	if got := eval[string](t, b, `document.getElementById('conn').textContent`); !strings.HasPrefix(got, "live") {
		t.Errorf("connection line %q", got)
	}

	// A drain through the admin API (the page has no write of its own).
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := tc.client.Do(ctx, s1.adminAddr(), ayasite.PathDrain, "",
		ayasite.DrainRequest{Target: "ap-southeast", Reason: "kernel upgrade", By: "status page test"}, nil); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, `(tr => tr ? tr.cells[1].textContent + "|" + tr.cells[2].textContent : "")(document.querySelector('#drains tr[data-key="ap-southeast"]'))`,
		"kernel upgrade|status page test", 3*time.Second)

	tc.backends["euw1"].stop()
	var decided time.Time
	waitFor(t, 10*time.Second, func() bool {
		st, err := tc.status(t, s1)
		if err != nil {
			return false
		}
		for _, r := range st.View.Regions {
			if r.Pool == "web" && r.Region == "eu-west" && !r.Up {
				decided = time.Now()
				return true
			}
		}
		return false
	}, func() string { return "eu-west did not go down:\n" + tc.logs() })
	shown := waitPage(t, b, regionState("web", "eu-west"), "DOWN", 2*time.Second)
	t.Logf("the page showed eu-west down %s after the decision appeared in %s", shown.Sub(decided).Round(time.Millisecond), cluster.PathStatus)
	if got := eval[string](t, b, `document.querySelector('#matrix tr[data-key="web/eu-west/euw1"] td').textContent`); got != "DOWN" {
		t.Errorf("matrix decision of euw1: %q", got)
	}
	b.screenshot(t, "")
	b.checkConsole(t)
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// syntheticStatus is a status of 50 endpoints (10 regions of 5) seen by 7
// sites, some down, some reports stale, with drains, load and history.
func syntheticStatus() cluster.StatusResponse {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sites := []string{"ams", "fra", "iad", "nrt", "sin", "syd", "gru"}
	regions := []string{"eu-west", "eu-central", "us-east", "us-west", "ap-northeast", "ap-southeast", "ap-south", "sa-east", "af-south", "me-central"}
	st := cluster.StatusResponse{
		Node: cluster.Status{ID: "fra", Addr: "10.0.0.2:7300", Admin: "10.0.0.2:9053", State: "Follower",
			LeaderID: "ams", LeaderAddr: "10.0.0.1:7300", Term: 9, LastIndex: 48213, LastApplied: 48213},
		Staleness: cluster.Duration(31 * time.Millisecond),
		Release: &release.Info{Version: 42, Digest: "sha256:46588f9328e9aa55d0c1b2a3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f6071",
			Index: 48000, At: now.Add(-time.Hour), By: "ci@zones", Source: "zones@3f2a9c1", Files: 12, Bytes: 48213},
		View: cluster.View{Index: 48213, Version: 977, Now: now, FreshFor: cluster.Duration(30 * time.Second),
			Admins: map[string]string{}, Differ: map[string][]string{"geo": {"ams=aaaa1111bbbb", "gru=cccc3333dddd"}}},
	}
	for i, s := range sites {
		st.Node.Members = append(st.Node.Members, cluster.Member{ID: s, Addr: fmt.Sprintf("10.0.0.%d:7300", i+1), Suffrage: "Voter"})
		st.View.Admins[s] = fmt.Sprintf("10.0.0.%d:9053", i+1)
		geo := "sha256:aaaa1111bbbb2222"
		if s == "gru" {
			geo = "sha256:cccc3333dddd4444"
		}
		st.View.Sites = append(st.View.Sites, cluster.SiteInfo{ID: s, Version: "v1.4.0", Geo: geo, GeoInfo: "GeoLite2-City 2026-11-20",
			Published: st.Release.Digest, Local: st.Release.Digest, At: now.Add(-time.Duration(i) * time.Second)})
	}
	for ri, region := range regions {
		down := ri == 3
		st.View.Regions = append(st.View.Regions, cluster.RegionView{RegionKey: cluster.RegionKey{Pool: "web", Region: region},
			Up: !down, Why: map[bool]string{true: "0 of 5 endpoints up, fewer than min_endpoints 2"}[down], Since: now.Add(-time.Duration(ri) * time.Minute)})
		for e := range 5 {
			ep := fmt.Sprintf("%s-%02d", region, e+1)
			epDown := down || (ri == 0 && e == 4)
			ev := cluster.EndpointView{EndpointKey: state.EndpointKey{Pool: "web", Region: region, Endpoint: ep}, Up: !epDown}
			if epDown {
				ev.Why = "down at 7 of 7 sites: connection refused"
				ev.Since = now.Add(-2 * time.Minute)
			}
			for si, s := range sites {
				r := cluster.SiteReport{Site: s, Up: !epDown, At: now.Add(-time.Duration(si) * time.Second), Age: cluster.Duration(time.Duration(si) * time.Second),
					Fresh: true, LatencyMicros: int64(800 + 370*si + 53*e)}
				if epDown {
					r.Err = "dial tcp 10.1.0.1:443: connect: connection refused"
				}
				if s == "syd" && ri == 5 {
					r.At, r.Age, r.Fresh = now.Add(-95*time.Second), cluster.Duration(95*time.Second), false
				}
				ev.Reports = append(ev.Reports, r)
			}
			st.View.Endpoints = append(st.View.Endpoints, ev)
		}
		st.View.Loads = append(st.View.Loads, cluster.RegionLoadView{Region: region, Utilisation: 0.3 + 0.06*float64(ri),
			Shed: map[bool]float64{true: 0.125}[ri == 9], Why: "utilisation 84% above high water 80%",
			Reports: []cluster.LoadReportView{{LoadReport: cluster.LoadReport{Region: region, Reporter: region + "-proxy1", InFlight: int64(30 + ri), Capacity: 100, RPS: 1200, P99Micros: 41000}, Fresh: true}}})
	}
	st.View.Drains = []cluster.DrainView{{Region: "af-south", Why: "fibre cut (by ops@noc)"},
		{Pool: "web", Region: "eu-west", Endpoint: "eu-west-03", Why: `kernel <script>alert(1)</script> upgrade (by "alice")`}}
	for i := range 40 {
		st.View.History = append(st.View.History, cluster.Decision{At: now.Add(-time.Duration(40-i) * time.Minute), Index: uint64(47000 + i*20),
			Pool: "web", Region: regions[i%10], Endpoint: fmt.Sprintf("%s-%02d", regions[i%10], i%5+1), From: "up", To: "down", Why: "down at 4 of 7 sites"})
	}
	return st
}

// TestStatusPageLarge renders a fixed status of 50 endpoints × 7 sites,
// served beside the page's files as the admin API would: the matrix has a
// row per endpoint and a column per site within a bounded time, scrolls in
// its own box under a header that stays in view, the page does not grow
// sideways, and values are shown as text, never run as markup.
func TestStatusPageLarge(t *testing.T) {
	b := newBrowser(t)
	st := syntheticStatus()
	mux := http.NewServeMux()
	for _, r := range statuspage.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	mux.HandleFunc("GET "+cluster.PathStatus, func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, st)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	start := time.Now()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, `String(document.querySelectorAll('#matrix tbody tr').length)`, "50", 3*time.Second)
	t.Logf("50×7 rendered %s after the navigation started", time.Since(start).Round(time.Millisecond))

	if got := eval[int](t, b, `document.querySelectorAll('#matrix thead th.site').length`); got != 7 {
		t.Errorf("matrix has %d site columns, want 7", got)
	}
	if got := eval[int](t, b, `Math.min(...Array.from(document.querySelectorAll('#matrix tbody tr')).map(tr => tr.cells.length))`); got != 3+7 {
		t.Errorf("a matrix row has %d cells, want 10", got)
	}
	if got := eval[string](t, b, `document.querySelector('#matrix tr[data-key="web/ap-southeast/ap-southeast-01"]').cells[3+6].textContent`); got != "up 2.65ms 1m35s stale" {
		t.Errorf("a stale report reads %q", got)
	}
	for region, want := range map[string]string{"us-west": "DOWN", "eu-west": "up"} {
		if got := eval[string](t, b, regionState("web", region)); got != want {
			t.Errorf("%s: %q, want %q", region, got, want)
		}
	}
	if got := eval[string](t, b, `document.querySelector('#matrix tr[data-key="web/eu-west/eu-west-05"]').cells[1].textContent`); got != "DOWN" {
		t.Errorf("eu-west-05's decision: %q", got)
	}
	if got := eval[string](t, b, `document.querySelector('#matrix tr[data-key="web/eu-west/eu-west-03"]').cells[1].textContent`); got != "up, drained" {
		t.Errorf("eu-west-03's decision: %q", got)
	}
	// Layout: no sideways page scroll; the matrix box is bounded and
	// scrolls, and its header row stays at the top of the box.
	if got := eval[bool](t, b, `document.documentElement.scrollWidth <= window.innerWidth`); !got {
		t.Errorf("the page scrolls sideways: %v > %v", eval[int](t, b, `document.documentElement.scrollWidth`), eval[int](t, b, `window.innerWidth`))
	}
	wrap := `document.querySelector('.matrix-wrap')`
	if got := eval[bool](t, b, wrap+`.clientHeight <= 0.7*window.innerHeight + 1 && `+wrap+`.scrollHeight > `+wrap+`.clientHeight`); !got {
		t.Errorf("the matrix box is not a bounded scrolling box")
	}
	t.Logf("matrix box %s", eval[string](t, b, `(w => w.clientWidth + "×" + w.clientHeight + " px showing " + w.scrollWidth + "×" + w.scrollHeight)(`+wrap+`)`))
	stuck := eval[float64](t, b, `(() => { const w = `+wrap+`; w.scrollTop = 400; const d = w.querySelector('thead th').getBoundingClientRect().top - w.getBoundingClientRect().top; w.scrollTop = 0; return d; })()`)
	if stuck < -1 || stuck > 2 {
		t.Errorf("after scrolling the matrix, its header is %vpx from the box's top, want 0", stuck)
	}
	// Values are text: the drain reason with markup in it is shown as such.
	if got := eval[string](t, b, `document.querySelector('#drains tr[data-key="web/eu-west/eu-west-03"]').cells[1].textContent`); got != "kernel <script>alert(1)</script> upgrade" {
		t.Errorf("drain reason %q", got)
	}
	if got := eval[int](t, b, `document.querySelectorAll('main script').length`); got != 0 {
		t.Errorf("%d script elements in the page's content", got)
	}
	// The filter narrows the matrix without another request.
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#filter"), "us-west")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, `String(document.querySelectorAll('#matrix tbody tr').length)`, "5", time.Second)
	eval[bool](t, b, `(f => { f.value = ""; return f.dispatchEvent(new Event("input")); })(document.getElementById("filter"))`)
	waitPage(t, b, `String(document.querySelectorAll('#matrix tbody tr').length)`, "50", time.Second)
	b.screenshot(t, "-50x7")
	b.checkConsole(t)
	// The policy is in force: markup from a string is refused (Trusted
	// Types), which would also have failed any render that tried.
	if got := eval[string](t, b, `(() => { try { document.createElement("div").innerHTML = "<b>x</b>"; return "allowed"; } catch (e) { return e.name; } })()`); got != "TypeError" {
		t.Errorf("innerHTML of a string: %s, want a TypeError from Trusted Types", got)
	}
}
