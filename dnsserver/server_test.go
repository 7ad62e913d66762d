package dnsserver

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// reloadVersions are the versions of a.test in testdata/reload: serial →
// address of www and text of version. The broken a.test of reload/bad
// (serial 4) must never be served.
var reloadVersions = map[uint32][2]string{
	1: {"192.0.2.1", "v1"},
	2: {"192.0.2.2", "v2"},
}

// TestReloadUnderLoad reloads the zones, alternating good and broken
// directories, while clients query over UDP and TCP without pause: no query
// may fail or time out, and every answer must come from one complete
// version of a zone (a transfer shows the whole zone at once).
func TestReloadUnderLoad(t *testing.T) {
	s, addr := testServer(t, testConfig(), "testdata/reload/v1")
	var (
		done    = make(chan struct{})
		queries atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, 3)
	)
	client := func(nw string, check func(*dns.Conn) error) {
		wg.Go(func() {
			co, err := dns.Dial(nw, addr)
			if err != nil {
				errs <- err
				return
			}
			defer co.Close()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := co.SetDeadline(time.Now().Add(time.Second)); err != nil {
					errs <- err
					return
				}
				if err := check(co); err != nil {
					errs <- fmt.Errorf("%s after %d queries: %w", nw, queries.Load(), err)
					return
				}
				queries.Add(1)
			}
		})
	}
	client("udp", checkReloadQueries)
	client("udp", checkReloadQueries)
	client("tcp", func(co *dns.Conn) error {
		if err := checkReloadQueries(co); err != nil {
			return err
		}
		return checkReloadTransfer(co)
	})

	dirs := []string{"v2", "bad", "v1", "bad", "bad", "v2", "v1"}
	for range 2 {
		dirs = append(dirs, dirs...)
	}
	for i, dir := range dirs {
		err := s.LoadZones("testdata/reload/" + dir)
		if (err != nil) != (dir == "bad") {
			t.Fatalf("load %d (%s): %v", i, dir, err)
		}
		// Let the clients see this version before the next load.
		seen := queries.Load()
		if err := poll(t, 5*time.Second, func() error {
			select {
			case err := <-errs:
				return err
			default:
			}
			if queries.Load() < seen+10 {
				return fmt.Errorf("clients made %d queries since load %d", queries.Load()-seen, i)
			}
			return nil
		}); err != nil {
			close(done)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d reloads, %d query rounds", len(dirs), queries.Load())
	if got := s.Zones().Zone("a.test.").Serial(); got != 1 {
		t.Errorf("a.test serial %d after the last load of v1", got)
	}
}

// checkReloadQueries asks for the records of a.test and b.test that change
// with the version and checks each is from a version that was loaded.
func checkReloadQueries(co *dns.Conn) error {
	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		if err := co.WriteMsg(q); err != nil {
			return nil, err
		}
		r, err := co.ReadMsg()
		switch {
		case err != nil:
			return nil, err
		case r.Id != q.Id:
			return nil, fmt.Errorf("reply id %d to query %d", r.Id, q.Id)
		case r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1:
			return nil, fmt.Errorf("%s %s: %s AA %v with %d answers", name, dns.TypeToString[qtype], rcodeName(r.Rcode), r.Authoritative, len(r.Answer))
		}
		return r, nil
	}
	r, err := ask("www.a.test.", dns.TypeA)
	if err != nil {
		return err
	}
	if a := r.Answer[0].(*dns.A).A.String(); a != "192.0.2.1" && a != "192.0.2.2" {
		return fmt.Errorf("www.a.test. A %s, from no good version", a)
	}
	if r, err = ask("version.a.test.", dns.TypeTXT); err != nil {
		return err
	}
	if v := r.Answer[0].(*dns.TXT).Txt; !slices.Equal(v, []string{"v1"}) && !slices.Equal(v, []string{"v2"}) {
		return fmt.Errorf("version.a.test. TXT %q, from no good version", v)
	}
	if r, err = ask("b.test.", dns.TypeSOA); err != nil {
		return err
	}
	if serial := r.Answer[0].(*dns.SOA).Serial; serial < 1 || serial > 3 {
		return fmt.Errorf("b.test. serial %d", serial)
	}
	return nil
}

// checkReloadTransfer transfers a.test (one message: the zone is small) and
// checks that all of it is one version.
func checkReloadTransfer(co *dns.Conn) error {
	q := new(dns.Msg)
	q.SetAxfr("a.test.")
	if err := co.WriteMsg(q); err != nil {
		return err
	}
	r, err := co.ReadMsg()
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 6 {
		return fmt.Errorf("AXFR a.test.: %s with %d records", rcodeName(r.Rcode), len(r.Answer))
	}
	serial := r.Answer[0].(*dns.SOA).Serial
	want, ok := reloadVersions[serial]
	if !ok {
		return fmt.Errorf("AXFR a.test.: serial %d, from no good version", serial)
	}
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.SOA:
			if rr.Serial != serial {
				return fmt.Errorf("AXFR a.test.: serials %d and %d in one transfer", serial, rr.Serial)
			}
		case *dns.A:
			if rr.Hdr.Name == "www.a.test." && rr.A.String() != want[0] {
				return fmt.Errorf("AXFR a.test.: serial %d with www %s", serial, rr.A)
			}
		case *dns.TXT:
			if !slices.Equal(rr.Txt, []string{want[1]}) {
				return fmt.Errorf("AXFR a.test.: serial %d with version %q", serial, rr.Txt)
			}
		}
	}
	return nil
}

// TestListenInUse: an address in use is said once, as the kernel's error
// reads ("listen udp ADDR: bind: address already in use"), not wrapped in
// the same words again.
func TestListenInUse(t *testing.T) {
	_, addr := testServer(t, testConfig(), "testdata/zones")
	other := New(Config{Listen: []string{addr}, UDPSockets: 1})
	err := other.Listen()
	want := "listen tcp " + addr + ": bind: address already in use" // UDP shares the port (SO_REUSEPORT)
	if err == nil || err.Error() != want {
		t.Errorf("Listen on an address in use: %v, want %s", err, want)
	}
}

// TestListenFailureLeavesNothing: a Listen that fails on its second
// address closes the sockets of the first and keeps none of them, so that
// Serve refuses to run on closed sockets and a second Listen, on free
// addresses, serves those alone.
func TestListenFailureLeavesNothing(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig()
	cfg.Listen = []string{"127.0.0.1:0", taken.LocalAddr().String()}
	cfg.UDPSockets = 1
	s := New(cfg)
	if err := s.LoadZones(testZones); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil {
		t.Fatal("Listen on a taken address: no error")
	}
	if got := s.UDPAddrs(); len(got) != 0 {
		t.Fatalf("after a failed Listen: UDP addresses %v, want none", got)
	}
	if err := s.Serve(t.Context()); err == nil {
		t.Fatal("Serve after a failed Listen: no error")
	}
	s.cfg.Listen = []string{"127.0.0.1:0"}
	if err := s.Listen(); err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	if got := s.UDPAddrs(); len(got) != 1 {
		t.Fatalf("after the second Listen: UDP addresses %v, want one", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	m := new(dns.Msg)
	m.SetQuestion("www.gslb.example.com.", dns.TypeA)
	r, err := dns.Exchange(m, s.UDPAddrs()[0].String())
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("query after the second Listen: %v, %v", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
