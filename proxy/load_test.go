package proxy

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestLoadMeter(t *testing.T) {
	start := time.Unix(1000, 0)
	m := newLoadMeter(100, start)
	// 5 seconds of 100 requests a second: 99 at 1ms, one at 200ms.
	for s := range 5 {
		for i := range 100 {
			d := time.Millisecond
			if i == 0 {
				d = 200 * time.Millisecond
			}
			m.record(start.Add(time.Duration(s)*time.Second+time.Duration(i)*time.Millisecond), d)
		}
	}
	rps, p99 := m.window(start.Add(5 * time.Second))
	if rps < 99 || rps > 101 {
		t.Errorf("rps %v, want 100", rps)
	}
	if p99 < time.Millisecond || p99 > 2*time.Millisecond {
		t.Errorf("p99 %v, want ~1ms", p99)
	}
	// 20 seconds later the window is empty.
	if rps, p99 := m.window(start.Add(25 * time.Second)); rps != 0 || p99 != 0 {
		t.Errorf("after the window: %v %v", rps, p99)
	}
	// Old buckets are reused for new seconds.
	for i := range 50 {
		m.record(start.Add(30*time.Second+time.Duration(i)*time.Millisecond), 10*time.Millisecond)
	}
	// The window is the 9 seconds before the current one and the elapsed
	// part of it: 9.5s here.
	rps, p99 = m.window(start.Add(31*time.Second + 500*time.Millisecond))
	if want := 50 / 9.5; rps < want*0.99 || rps > want*1.01 {
		t.Errorf("rps %v, want %v (50 over 9.5s)", rps, want)
	}
	if p99 < 10*time.Millisecond || p99 > 13*time.Millisecond {
		t.Errorf("p99 %v, want ~10ms", p99)
	}
}

func TestLoadUnderKnownLoad(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, "a", func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
			return
		}
		time.Sleep(20 * time.Millisecond)
	})
	cfg := onePool(b)
	cfg.Pools[0].Backends[0].MaxConns = 40
	p, addr := startProxy(t, cfg)
	c := client()
	if l := p.Load(); l.Capacity != 40 || l.InFlight != 0 || l.RPS != 0 {
		t.Errorf("idle load %+v", l)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				get(t, c, "http://"+addr+"/")
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	l := p.Load()
	want := 100 / elapsed.Seconds()
	if l.RPS < want*0.5 || l.RPS > want*1.5 {
		t.Errorf("RPS %v, want ~%v (100 requests in %v)", l.RPS, want, elapsed)
	}
	if l.P99 < 20*time.Millisecond || l.P99 > 500*time.Millisecond {
		t.Errorf("P99 %v, want a little over 20ms", l.P99)
	}
	done := make(chan struct{})
	for range 2 {
		go func() {
			get(t, c, "http://"+addr+"/hold")
			done <- struct{}{}
		}()
	}
	waitFor(t, func() bool { return p.Load().InFlight == 2 })
	if l := p.Load(); l.Utilisation != 2.0/40 {
		t.Errorf("utilisation %v, want %v", l.Utilisation, 2.0/40)
	}
	close(release)
	<-done
	<-done
}
