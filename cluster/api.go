package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aya-gslb/aya/internal/httpjson"
	"github.com/aya-gslb/aya/release"
)

// The admin API paths of the cluster. Writes go to the leader: a follower
// that receives one forwards it to the leader's admin API once, marking it
// with ForwardedHeader; a forwarded write that reaches a non-leader is
// refused with 503 rather than forwarded again.
const (
	PathApply  = "/v1/cluster/apply"  // POST ApplyRequest
	PathJoin   = "/v1/cluster/join"   // POST JoinRequest
	PathRemove = "/v1/cluster/remove" // POST RemoveRequest
	PathStatus = "/v1/cluster/status" // GET → StatusResponse
	// PathRelease is the release: GET → the running release.Release
	// (404 before the first), POST release.Release → ReleaseResponse.
	PathRelease = "/v1/release"

	// ForwardedHeader names the member that forwarded a write.
	ForwardedHeader = "Aya-Forwarded-By"
)

// ErrNoLeader is returned by a write when no leader is known, or its admin
// API address is not known yet (a cluster without quorum, or electing).
var ErrNoLeader = errors.New("no leader")

// ApplyRequest is the body of PathApply: a command for the log.
type ApplyRequest struct {
	Type byte            `json:"type"`
	V    json.RawMessage `json:"v"`
}

// JoinRequest is the body of PathJoin: a server to add.
type JoinRequest struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`  // Raft transport address
	Admin string `json:"admin"` // admin API address, for forwarding
	Voter bool   `json:"voter"`
}

// RemoveRequest is the body of PathRemove.
type RemoveRequest struct {
	ID string `json:"id"`
}

// StatusResponse is the body of PathStatus.
type StatusResponse struct {
	Node Status `json:"node"`
	// Staleness is how long ago this node last heard from a leader (0 on
	// the leader): how old its answers' state may be.
	Staleness Duration `json:"staleness"`
	// Release is the release this node answers from (nil: none yet).
	Release *release.Info `json:"release"`
	// Restored is the log index of the state restored from disk that the
	// node answers from until it has caught up; 0 when it has.
	Restored uint64 `json:"restored,omitempty"`
	View     View   `json:"view"`
}

// APIError is a failed call of the cluster API: the HTTP status and the
// server's message.
type APIError struct {
	Addr   string
	Status int
	Msg    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.Addr, e.Status, http.StatusText(e.Status), e.Msg)
}

// Client calls the admin API of AYA nodes: followers forwarding writes to
// the leader, and the aya command line.
type Client struct {
	// HTTP is the client to use (its Transport carries the TLS client
	// certificate when the cluster uses mutual TLS); nil: NewHTTPClient(nil).
	HTTP *http.Client
	// HTTPS selects https:// (mutual TLS) instead of http://.
	HTTPS bool
	// Token is sent as a bearer token when set.
	Token string
}

// Timeouts of NewHTTPClient.
const (
	// DialTimeout bounds connecting to a member's admin API. A member that
	// does not answer, such as a leader that has just died while Raft
	// still names it, fails within it rather than holding a forwarded
	// write for the whole call, so that the caller's retry reaches the new
	// leader soon. A connection that needs a retransmitted SYN (Linux
	// waits 1s) fails too, and is retried by the caller like any failure.
	DialTimeout = time.Second
	// callTimeout bounds a whole call, which on the leader waits for the
	// commit (at most DefaultApplyTimeout).
	callTimeout = DefaultApplyTimeout
)

// NewHTTPClient returns the HTTP client of the admin API: it connects
// within DialTimeout, completes a call within 10s, and speaks TLS with
// tlsConfig (nil: the defaults, for https:// to a public certificate);
// otherwise it is http.DefaultTransport's (proxy from the environment,
// idle connections kept).
func NewHTTPClient(tlsConfig *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 15 * time.Second}).DialContext
	if tlsConfig != nil {
		tr.TLSClientConfig = tlsConfig
	}
	return &http.Client{Timeout: callTimeout, Transport: tr}
}

var defaultHTTP = NewHTTPClient(nil)

// Do sends in (JSON; nil: no body, GET) to path on the admin API at addr
// and decodes the JSON response into out (when not nil). from, when set,
// marks the request as forwarded by that member. A non-2xx status is an
// *APIError.
func (c *Client) Do(ctx context.Context, addr, path, from string, in, out any) error {
	scheme := "http"
	if c.HTTPS {
		scheme = "https"
	}
	method, body := http.MethodGet, io.Reader(nil)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		method, body = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+addr+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if from != "" {
		req.Header.Set(ForwardedHeader, from)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	limit := int64(httpjson.MaxBody)
	if path == PathRelease {
		limit = MaxReleaseBody // GET answers the whole release
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return fmt.Errorf("%s%s: %w", addr, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := string(bytes.TrimSpace(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Addr: addr, Status: resp.StatusCode, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s%s: decode response: %w", addr, path, err)
	}
	return nil
}

// Observe records a site's observation of an endpoint.
func (n *Node) Observe(ctx context.Context, o Observe) error { return n.apply(ctx, CmdObserve, o) }

// Drain drains a region or an endpoint.
func (n *Node) Drain(ctx context.Context, d Drain) error { return n.apply(ctx, CmdDrain, d) }

// Undrain removes a drain.
func (n *Node) Undrain(ctx context.Context, u Undrain) error { return n.apply(ctx, CmdUndrain, u) }

// ReportLoad records a proxy's load report.
func (n *Node) ReportLoad(ctx context.Context, l LoadReport) error { return n.apply(ctx, CmdLoad, l) }

// apply appends a command to the log: on the leader directly (Propose),
// on a follower through the leader's admin API.
func (n *Node) apply(ctx context.Context, cmd byte, v any) error {
	err := n.Propose(ctx, cmd, v)
	if !errors.Is(err, ErrNotLeader) {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return n.forward(ctx, PathApply, ApplyRequest{Type: cmd, V: raw})
}

// AddMember adds a server (Join) and records its admin address, on the
// leader or through it.
func (n *Node) AddMember(ctx context.Context, req JoinRequest) error {
	if err := checkJoin(req); err != nil {
		return err
	}
	err := n.addMember(ctx, req)
	if !errors.Is(err, ErrNotLeader) {
		return err
	}
	return n.forward(ctx, PathJoin, req)
}

func checkJoin(req JoinRequest) error {
	if req.ID == "" || req.Addr == "" || req.Admin == "" {
		return errors.New("join: id, addr and admin are required")
	}
	return nil
}

func (n *Node) addMember(ctx context.Context, req JoinRequest) error {
	if err := n.Join(req.ID, req.Addr, req.Voter); err != nil {
		return err
	}
	return n.Propose(ctx, CmdMeta, Meta{ID: req.ID, Admin: req.Admin})
}

// RemoveMember removes a server and forgets its admin address, on the
// leader or through it.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("remove: id is required")
	}
	err := n.removeMember(ctx, id)
	if !errors.Is(err, ErrNotLeader) {
		return err
	}
	return n.forward(ctx, PathRemove, RemoveRequest{ID: id})
}

func (n *Node) removeMember(ctx context.Context, id string) error {
	if err := n.Remove(id); err != nil {
		return err
	}
	return n.Propose(ctx, CmdMeta, Meta{ID: id})
}

// forward sends a write to the leader's admin API.
func (n *Node) forward(ctx context.Context, path string, in any) error {
	return n.forwardOut(ctx, path, in, nil)
}

// forwardOut is forward, decoding the leader's answer into out (when not
// nil).
func (n *Node) forwardOut(ctx context.Context, path string, in, out any) error {
	lid, _ := n.Leader()
	if lid == "" || lid == n.id {
		return ErrNoLeader
	}
	admin, ok := n.fsm.Admin(lid)
	if !ok {
		return fmt.Errorf("%w: the admin address of leader %s is not known yet", ErrNoLeader, lid)
	}
	n.m.forwards.Inc()
	return n.client.Do(ctx, admin, path, n.id, in, out)
}

// ReleaseResponse is the answer to a POST of PathRelease: the release the
// cluster answers from after it, and whether it is the one sent.
type ReleaseResponse struct {
	Version   uint64 `json:"version"`
	Digest    string `json:"digest"`
	Index     uint64 `json:"index"`
	Unchanged bool   `json:"unchanged,omitempty"` // it was running already
}

// MaxReleaseBody bounds the body of a POST of PathRelease: a release at
// release.MaxTotalSize, base64 in JSON.
const MaxReleaseBody = release.MaxTotalSize/3*4 + 1<<20

// ReleaseBodyTimeout bounds reading the body of a POST of PathRelease once
// it is its turn: MaxReleaseBody at 1.5 MiB/s.
const ReleaseBodyTimeout = 60 * time.Second

// ApplyRelease validates r (its digest and limits, then Config.Validate)
// and appends it to the log, on the leader or through it. It returns what
// the cluster answers from after the entry is applied on the leader.
func (n *Node) ApplyRelease(ctx context.Context, r *release.Release) (ReleaseResponse, error) {
	if err := n.validateRelease(r); err != nil {
		return ReleaseResponse{}, err
	}
	resp, err := n.proposeRelease(ctx, r)
	if !errors.Is(err, ErrNotLeader) {
		return resp, err
	}
	err = n.forwardOut(ctx, PathRelease, r, &resp)
	return resp, err
}

func (n *Node) validateRelease(r *release.Release) error {
	if err := r.Validate(); err != nil {
		return &commandError{err}
	}
	cur := n.fsm.Release()
	if err := errors.Join(CheckUnsign(r, cur), CheckResigns(r, cur)); err != nil {
		// The state machine refuses it too; say so before the log.
		return &commandError{fmt.Errorf("release refused: %w", err)}
	}
	if n.checkRelease != nil {
		if err := n.checkRelease(r); err != nil {
			return &commandError{fmt.Errorf("release refused: %w", err)}
		}
	}
	return nil
}

func (n *Node) proposeRelease(ctx context.Context, r *release.Release) (ReleaseResponse, error) {
	if cur := n.fsm.Release(); cur != nil && cur.Digest == r.Digest {
		return ReleaseResponse{Version: cur.Version, Digest: cur.Digest, Index: cur.Index, Unchanged: true}, nil
	}
	if err := n.Propose(ctx, CmdRelease, r); err != nil {
		return ReleaseResponse{}, err
	}
	cur := n.fsm.Release()
	if cur == nil {
		return ReleaseResponse{}, errors.New("release: applied but not found")
	}
	return ReleaseResponse{Version: cur.Version, Digest: cur.Digest, Index: cur.Index, Unchanged: cur.Digest != r.Digest}, nil
}

// Staleness is how long ago this node last heard from a leader: 0 on the
// leader, the time since start when it never has.
func (n *Node) Staleness() time.Duration {
	if n.IsLeader() {
		return 0
	}
	lc := n.raft.LastContact()
	if lc.IsZero() {
		return time.Since(n.started)
	}
	return time.Since(lc)
}

// View returns the FSM's view (see FSM.View).
func (n *Node) View() View { return n.fsm.View() }

// StatusOf returns the node's status, staleness and view.
func (n *Node) StatusOf() StatusResponse {
	return StatusResponse{Node: n.Stats(), Staleness: Duration(n.Staleness()), Release: n.Release().Info(), Restored: n.Restored(), View: n.View()}
}

// Handler serves the cluster API (PathApply, PathJoin, PathRemove as POST,
// PathStatus as GET). Authorising writes is the caller's job (the admin
// server checks the bearer token and client certificate).
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, n.StatusOf())
	})
	mux.HandleFunc("POST "+PathApply, func(w http.ResponseWriter, r *http.Request) {
		var req ApplyRequest
		if !httpjson.Read(w, r, &req) {
			return
		}
		if req.Type == CmdRelease {
			// Only PathRelease checks a release (CheckRelease) before it
			// enters the log: one that does not compile would fail on
			// every site.
			httpjson.Error(w, http.StatusBadRequest, "a release is applied with POST "+PathRelease)
			return
		}
		n.serveWrite(w, r, func(ctx context.Context) error {
			return n.Propose(ctx, req.Type, req.V)
		}, PathApply, req)
	})
	mux.HandleFunc("GET "+PathRelease, func(w http.ResponseWriter, _ *http.Request) {
		rel := n.Release()
		if rel == nil {
			httpjson.Error(w, http.StatusNotFound, "no release yet")
			return
		}
		httpjson.Write(w, http.StatusOK, rel)
	})
	mux.HandleFunc("POST "+PathRelease, func(w http.ResponseWriter, r *http.Request) {
		// One release at a time: each takes a few times its size in
		// memory while it is decoded, compiled and encoded, so the bodies
		// of concurrent POSTs wait unread.
		select {
		case n.releasing <- struct{}{}:
			defer func() { <-n.releasing }()
		case <-r.Context().Done():
			return
		case <-time.After(DefaultApplyTimeout):
			httpjson.Error(w, http.StatusServiceUnavailable, "another release is being applied")
			return
		}
		// The body has ReleaseBodyTimeout from now in all, whatever the
		// server's read timeout (a trickle is cut off then too), and the
		// answer the apply's time after it.
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(ReleaseBodyTimeout))
		_ = rc.SetWriteDeadline(now.Add(ReleaseBodyTimeout + DefaultApplyTimeout + 5*time.Second))
		var rel release.Release
		if !httpjson.ReadLimit(w, r, &rel, MaxReleaseBody) {
			return
		}
		if err := n.validateRelease(&rel); err != nil {
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		var resp ReleaseResponse
		n.serveWriteOut(w, r, func(ctx context.Context) error {
			var err error
			resp, err = n.proposeRelease(ctx, &rel)
			return err
		}, PathRelease, &rel, &resp)
	})
	mux.HandleFunc("POST "+PathJoin, func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if !httpjson.Read(w, r, &req) {
			return
		}
		if err := checkJoin(req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		n.serveWrite(w, r, func(ctx context.Context) error { return n.addMember(ctx, req) }, PathJoin, req)
	})
	mux.HandleFunc("POST "+PathRemove, func(w http.ResponseWriter, r *http.Request) {
		var req RemoveRequest
		if !httpjson.Read(w, r, &req) {
			return
		}
		if req.ID == "" {
			httpjson.Error(w, http.StatusBadRequest, "remove: id is required")
			return
		}
		n.serveWrite(w, r, func(ctx context.Context) error { return n.removeMember(ctx, req.ID) }, PathRemove, req)
	})
	return mux
}

// serveWrite runs do on the leader; a follower forwards the request to the
// leader, unless it was forwarded already.
func (n *Node) serveWrite(w http.ResponseWriter, r *http.Request, do func(context.Context) error, path string, req any) {
	n.serveWriteOut(w, r, do, path, req, nil)
}

// serveWriteOut is serveWrite answering with out (when not nil) on success.
func (n *Node) serveWriteOut(w http.ResponseWriter, r *http.Request, do func(context.Context) error, path string, req, out any) {
	ctx, cancel := context.WithTimeout(r.Context(), DefaultApplyTimeout)
	defer cancel()
	err := do(ctx)
	if errors.Is(err, ErrNotLeader) {
		if from := r.Header.Get(ForwardedHeader); from != "" {
			httpjson.Error(w, http.StatusServiceUnavailable, fmt.Sprintf("%v (forwarded by %s)", err, from))
			return
		}
		err = n.forwardOut(ctx, path, req, out)
	}
	var ae *APIError
	switch {
	case err == nil && out != nil:
		httpjson.Write(w, http.StatusOK, out)
	case err == nil:
		httpjson.Write(w, http.StatusOK, map[string]bool{"ok": true})
	case errors.As(err, &ae):
		httpjson.Error(w, ae.Status, ae.Msg)
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader):
		httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		httpjson.Error(w, http.StatusGatewayTimeout, err.Error())
	case isCommandError(err):
		httpjson.Error(w, http.StatusBadRequest, err.Error())
	default:
		httpjson.Error(w, http.StatusBadGateway, err.Error())
	}
}

// IsCommandError reports whether err is the FSM's or Propose's verdict on a
// command itself (it does not decode, or was refused), as opposed to a
// failure to reach the leader: retrying it will not help.
func IsCommandError(err error) bool { return isCommandError(err) }

// isCommandError is IsCommandError.
func isCommandError(err error) bool {
	var ce *commandError
	return errors.As(err, &ce)
}
