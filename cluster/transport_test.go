package cluster

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
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

// secretTLS is the cluster.Config.TLS of a node called id that holds the
// cluster secrets (base64, the current one first).
func secretTLS(t *testing.T, id string, secrets ...string) *tls.Config {
	t.Helper()
	b, err := mtls.ParseSecrets(strings.Join(secrets, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := mtls.FromSecrets(id, b)
	if err != nil {
		t.Fatal(err)
	}
	return c.Peer
}

// testSecret and otherSecret are two cluster secrets (32 random bytes).
const (
	testSecret  = "PItVEtr66m01koHSPEoK8sF4DLDlzmbVYcYAc5vr9lY="
	otherSecret = "v8NV+Nmysi+A8/d+PXwbR8Y/O2lfVUvFTaqAIWTaZT0="
)

// TestTransportTLSCluster runs three members over mutual TLS, from
// certificate files or from a cluster secret: they form a cluster and
// replicate. A stranger (a certificate of another CA, another secret)
// gets nothing.
func TestTransportTLSCluster(t *testing.T) {
	ca, other := mtlstest.NewCA(t, "", "ca"), mtlstest.NewCA(t, "", "other")
	for _, tc := range []struct {
		name     string
		member   func(id string) *tls.Config
		stranger *tls.Config
	}{
		{"files", func(id string) *tls.Config { return peerTLS(t, ca.Issue(id)) }, peerTLS(t, other.Issue("s4"))},
		{"secret", func(id string) *tls.Config { return secretTLS(t, id, testSecret) }, secretTLS(t, "s4", otherSecret)},
	} {
		t.Run(tc.name, func(t *testing.T) { testMembersOnly(t, tc.member, tc.stranger) })
	}
}

func testMembersOnly(t *testing.T, member func(id string) *tls.Config, stranger *tls.Config) {
	start := func(id string, bootstrap bool) *Node {
		cfg := testConfig(t, id, bootstrap)
		cfg.TLS = member(id)
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
		eventually(t, 10*time.Second, "drain "+region+" proposed", func() bool {
			leader = waitLeader(t, all...)
			err := leader.Propose(t.Context(), CmdDrain, Drain{Region: region, Reason: "x", By: "t"})
			if err != nil {
				t.Logf("Propose(drain %s): %v", region, err)
			}
			return err == nil
		})
		for _, n := range all {
			eventually(t, 5*time.Second, region+" drained on "+n.ID(), func() bool {
				return n.Current().DrainedRegions[region] != ""
			})
		}
	}
	drain("eu-west")

	// A stranger (which trusts only its own CA) joins as a non-voter: the
	// configuration change commits with the voters, but the leader cannot
	// replicate to it, so it never gets an entry.
	cfg := testConfig(t, "s4", false)
	cfg.TLS = stranger
	s4 := startNode(t, cfg)
	// Leadership may move on a loaded machine (the test's timeouts are
	// short): join through whoever leads.
	eventually(t, 10*time.Second, "stranger joined as a non-voter", func() bool {
		leader = waitLeader(t, all...)
		err := leader.Join(s4.ID(), s4.Addr(), false)
		if err != nil {
			t.Logf("Join(stranger as non-voter): %v", err)
		}
		return err == nil
	})
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
	srv, err := newTestStream(t, "127.0.0.1:0", nil, peerTLS(t, ca.Issue("s1")))
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
			cl, err := newTestStream(t, "127.0.0.1:0", nil, tc.tls)
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
				// A request in raft's framing (the stream checks it): a
				// RequestVote (type 1) of an empty msgpack map.
				ping := []byte{1, 0x80}
				if _, err := c.Write(ping); err != nil {
					return err
				}
				buf := make([]byte, len(ping))
				if _, err := io.ReadFull(c, buf); err != nil {
					return err
				}
				if !bytes.Equal(buf, ping) {
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
		if s, err := newTestStream(t, "127.0.0.1:0", adv, tc); !errors.Is(err, errNotAdvertisable) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("advertise %v: err = %v, want errNotAdvertisable", adv, err)
		}
	}
	if s, err := newTestStream(t, "127.0.0.1:0", &net.UnixAddr{Name: "x", Net: "unix"}, tc); !errors.Is(err, errNotTCP) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("unix advertise: err = %v, want errNotTCP", err)
	}
	if s, err := newTestStream(t, "0.0.0.0:0", nil, tc); !errors.Is(err, errNotAdvertisable) {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("bind 0.0.0.0 without advertise: err = %v, want errNotAdvertisable", err)
	}
	adv := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7000}
	s, err := newTestStream(t, "127.0.0.1:0", adv, tc)
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

// TestTransportRawAppendEntries is the attack that the transport's
// authentication stops: a client that reaches the Raft port and speaks
// raft's wire format (raft.NetworkTransport: an rpcType byte, then the
// request in msgpack) sends an AppendEntries with a higher term and a log
// entry that drains a region, committed at once. A node with a cluster
// secret or mutual TLS applies nothing: its term, log and leadership stay
// as they were. A node on plain TCP takes the entry, steps down to the
// intruder's term and applies the drain: anyone who can connect writes
// the log, which is why config refuses plain TCP off loopback.
func TestTransportRawAppendEntries(t *testing.T) {
	ca, other := mtlstest.NewCA(t, "", "ca"), mtlstest.NewCA(t, "", "other")
	otherCA := func() *tls.Certificate {
		t.Helper()
		f := other.Issue("intruder")
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}()
	// A complete member of another cluster: its leaf and chain.
	otherSecretCert := &secretTLS(t, "intruder", otherSecret).Certificates[0]
	// dialTLS dials as a TLS client that does not verify the node and
	// presents cert (none for nil) whatever CAs the node asks for.
	dialTLS := func(cert *tls.Certificate) func(addr string) (net.Conn, error) {
		return func(addr string) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{
				InsecureSkipVerify: true,
				MinVersion:         tls.VersionTLS12,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if cert == nil {
						return &tls.Certificate{}, nil
					}
					return cert, nil
				},
			}}
			return d.DialContext(t.Context(), "tcp", addr)
		}
	}
	dialTCP := func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

	for _, tc := range []struct {
		name     string
		tls      *tls.Config // nil: plain TCP
		dial     func(addr string) (net.Conn, error)
		accepted bool
	}{
		{"secret, raw TCP", secretTLS(t, "s1", testSecret), dialTCP, false},
		{"secret, TLS without a certificate", secretTLS(t, "s1", testSecret), dialTLS(nil), false},
		{"secret, another secret's certificate", secretTLS(t, "s1", testSecret), dialTLS(otherSecretCert), false},
		{"mTLS, raw TCP", peerTLS(t, ca.Issue("s1")), dialTCP, false},
		{"mTLS, TLS without a certificate", peerTLS(t, ca.Issue("s1")), dialTLS(nil), false},
		{"mTLS, another CA's certificate", peerTLS(t, ca.Issue("s1")), dialTLS(otherCA), false},
		// Plain TCP on loopback: allowed for zero-config runs, and open to
		// any local process, as this case shows.
		{"plain TCP, raw TCP", nil, dialTCP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "s1", true)
			cfg.TLS = tc.tls
			n := startNode(t, cfg)
			waitLeader(t, n)
			// A barrier: the new leader's first entry is applied, and the
			// log holds still.
			if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
				t.Fatal(err)
			}
			before := n.Stats()
			lastTerm, err := strconv.ParseUint(n.raft.Stats()["last_log_term"], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			data, err := Encode(CmdDrain, time.Now(), Drain{Region: "eu-west", Reason: "intruder", By: "raw client"})
			if err != nil {
				t.Fatal(err)
			}
			term := before.Term + 5
			req := &raft.AppendEntriesRequest{
				RPCHeader: raft.RPCHeader{
					ProtocolVersion: raft.ProtocolVersionMax,
					ID:              []byte("intruder"),
					Addr:            []byte("127.0.0.1:1"),
				},
				Term:         term,
				PrevLogEntry: before.LastIndex,
				PrevLogTerm:  lastTerm,
				Entries: []*raft.Log{{
					Index: before.LastIndex + 1, Term: term, Type: raft.LogCommand, Data: data, AppendedAt: time.Now(),
				}},
				LeaderCommitIndex: before.LastIndex + 1,
			}

			resp, rpcErr := rawAppendEntries(tc.dial, n.Addr(), req)
			if tc.accepted {
				if rpcErr != nil || !resp.Success || resp.Term != term {
					t.Fatalf("plain TCP: response %+v, error %v; want success at term %d", resp, rpcErr, term)
				}
				eventually(t, 5*time.Second, "the intruder's drain applied", func() bool {
					return n.Current().DrainedRegions["eu-west"] != ""
				})
				if st := n.Stats(); st.Term < term {
					t.Fatalf("term %d after the intruder's term %d", st.Term, term)
				}
				return
			}
			if rpcErr == nil {
				t.Fatalf("the node answered the intruder: %+v", resp)
			}
			t.Logf("refused: %v", rpcErr)
			// Raft would have applied it by now (see the plain TCP case);
			// watch a while longer anyway.
			deadline := time.Now().Add(500 * time.Millisecond)
			for {
				st := n.Stats()
				if st.Term != before.Term || st.LastIndex != before.LastIndex || st.State != "Leader" || st.LeaderID != "s1" {
					t.Fatalf("the node changed: before %+v, after %+v", before, st)
				}
				if got := n.Current().DrainedRegions; len(got) != 0 {
					t.Fatalf("the intruder's drain was applied: %v", got)
				}
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// rawAppendEntries sends req as raft.NetworkTransport does (the rpcType
// byte of AppendEntries, 0, then msgpack with raft's default handle) on a
// connection from dial, and reads the response: an error string, then the
// response.
func rawAppendEntries(dial func(addr string) (net.Conn, error), addr string, req *raft.AppendEntriesRequest) (*raft.AppendEntriesResponse, error) {
	const rpcAppendEntries = 0
	c, err := dial(addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	w := bufio.NewWriter(c)
	if err := w.WriteByte(rpcAppendEntries); err != nil {
		return nil, err
	}
	enc := codec.NewEncoder(w, &codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}})
	if err := enc.Encode(req); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	dec := codec.NewDecoder(bufio.NewReader(c), &codec.MsgpackHandle{})
	var rpcErr string
	if err := dec.Decode(&rpcErr); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	var resp raft.AppendEntriesResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if rpcErr != "" {
		return &resp, errors.New(rpcErr)
	}
	return &resp, nil
}

// newTestStream is the Raft port's stream layer with the default bounds
// and a 1 s handshake.
func newTestStream(t *testing.T, bind string, advertise net.Addr, cfg *tls.Config) (*stream, error) {
	t.Helper()
	lim := defaultTransportLimits()
	lim.Handshake = time.Second
	return newStream(bind, advertise, cfg, lim, nil, nil, nil)
}
