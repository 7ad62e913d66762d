package cluster

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/internal/mtls/mtlstest"
)

// peerTLS is the cluster.Config.TLS of a node with the files f.
func peerTLS(t *testing.T, f mtlstest.Files) *tls.Config {
	t.Helper()
	c, err := mtls.Load(f.Cert, f.Key, f.CA)
	if err != nil {
		t.Fatal(err)
	}
	return c.Peer()
}

func TestTransportTLSCluster(t *testing.T) {
	ca := mtlstest.NewCA(t, "", "ca")
	start := func(id string, bootstrap bool) *Node {
		cfg := testConfig(t, id, bootstrap)
		cfg.TLS = peerTLS(t, ca.Issue(id))
		return startNode(t, cfg)
	}
	n1, n2, n3 := start("s1", true), start("s2", false), start("s3", false)
	if _, port, _ := net.SplitHostPort(n1.Addr()); port == "0" {
		t.Fatalf("advertised %s, want the bound port", n1.Addr())
	}
	waitLeader(t, n1)
	for _, n := range []*Node{n2, n3} {
		if err := n1.Join(n.ID(), n.Addr(), true); err != nil {
			t.Fatalf("Join(%s): %v", n.ID(), err)
		}
	}
	all := []*Node{n1, n2, n3}
	leader := waitLeader(t, all...)

	drain := func(region string) {
		t.Helper()
		if err := leader.Propose(t.Context(), CmdDrain, Drain{Region: region, Reason: "x", By: "t"}); err != nil {
			t.Fatalf("Propose(drain %s): %v", region, err)
		}
		for _, n := range all {
			eventually(t, 5*time.Second, region+" drained on "+n.ID(), func() bool {
				return n.Current().DrainedRegions[region] != ""
			})
		}
	}
	drain("eu-west")

	// A node whose certificate is from another CA (and which trusts only
	// that CA) joins as a non-voter: the configuration change commits with
	// the voters, but the leader cannot replicate to it, so it never gets
	// an entry.
	other := mtlstest.NewCA(t, "", "other")
	cfg := testConfig(t, "s4", false)
	cfg.TLS = peerTLS(t, other.Issue("s4"))
	s4 := startNode(t, cfg)
	if err := leader.Join(s4.ID(), s4.Addr(), false); err != nil {
		t.Fatalf("Join(stranger as non-voter): %v", err)
	}
	drain("us-east")
	// Twenty heartbeats (200ms): far more than a trusted follower needs.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if st := s4.Stats(); st.LastIndex != 0 || st.LeaderID != "" {
			t.Fatalf("stranger got log entries or a leader: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := s4.Current().DrainedRegions; len(got) != 0 {
		t.Fatalf("stranger applied drains %v", got)
	}
}

// TestTransportTLSStream checks the stream layer alone: a trusted peer
// exchanges data, a stranger's dial is refused by the server's check of
// its client certificate (it trusts our CA, so only that check can fail).
func TestTransportTLSStream(t *testing.T) {
	ca := mtlstest.NewCA(t, "", "ca")
	other := mtlstest.NewCA(t, "", "other")
	srv, err := newTLSStream("127.0.0.1:0", nil, peerTLS(t, ca.Issue("s1")), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = io.Copy(c, c)
			}()
		}
	}()

	stranger := other.Issue("s9")
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{
		{"same CA", peerTLS(t, ca.Issue("s2")), true},
		{"stranger", peerTLS(t, mtlstest.Files{Cert: stranger.Cert, Key: stranger.Key, CA: ca.File}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := newTLSStream("127.0.0.1:0", nil, tc.tls, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cl.Close() }()
			err = func() error {
				c, err := cl.Dial(raft.ServerAddress(srv.Addr().String()), time.Second)
				if err != nil {
					return err
				}
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write([]byte("ping")); err != nil {
					return err
				}
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil {
					return err
				}
				if string(buf) != "ping" {
					return errors.New("bad echo")
				}
				return nil
			}()
			if tc.ok != (err == nil) {
				t.Fatalf("exchange error = %v, want success %v", err, tc.ok)
			}
		})
	}

	// A peer that connects and never speaks does not hold up the others,
	// and its handshake gives up after the timeout.
	idle, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idle.Close() }()
	_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle peer: read = %v, want EOF after the handshake timeout", err)
	}
}

func TestTransportTLSAddr(t *testing.T) {
	tc := peerTLS(t, mtlstest.NewCA(t, "", "ca").Issue("s1"))
	for _, adv := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 7000},
		&net.TCPAddr{IP: net.IPv6unspecified, Port: 7000},
		&net.TCPAddr{Port: 7000},
	} {
		if s, err := newTLSStream("127.0.0.1:0", adv, tc, time.Second); !errors.Is(err, errNotAdvertisable) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("advertise %v: err = %v, want errNotAdvertisable", adv, err)
		}
	}
	if s, err := newTLSStream("127.0.0.1:0", &net.UnixAddr{Name: "x", Net: "unix"}, tc, time.Second); !errors.Is(err, errNotTCP) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("unix advertise: err = %v, want errNotTCP", err)
	}
	if s, err := newTLSStream("0.0.0.0:0", nil, tc, time.Second); !errors.Is(err, errNotAdvertisable) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("bind 0.0.0.0 without advertise: err = %v, want errNotAdvertisable", err)
	}
	adv := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7000}
	s, err := newTLSStream("127.0.0.1:0", adv, tc, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.Addr() != adv {
		t.Fatalf("Addr = %v, want the advertise address %v", s.Addr(), adv)
	}

	// NewNode refuses an unspecified advertise address over TLS too.
	cfg := testConfig(t, "s1", true)
	cfg.TLS = tc
	cfg.Advertise = "0.0.0.0:7000"
	if n, err := NewNode(cfg); !errors.Is(err, errNotAdvertisable) {
		if n != nil {
			_ = n.Close()
		}
		t.Fatalf("NewNode(advertise 0.0.0.0) = %v, want errNotAdvertisable", err)
	}
}
