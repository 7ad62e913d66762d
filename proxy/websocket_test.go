package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	echo := newBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			http.Error(w, "no upgrade", http.StatusBadRequest)
			return
		}
		c, err := up.Upgrade(w, r, http.Header{"X-Backend": {"ws"}})
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo "+r.Header.Get("X-Forwarded-For")+" "), msg...)); err != nil {
				return
			}
		}
	})
	cfg := onePool(echo)
	cfg.Limits.IdleTimeout = 300 * time.Millisecond
	p, addr := startProxy(t, cfg)

	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second}
	c, resp, err := d.Dial("ws://"+addr+"/chat", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	_ = resp.Body.Close()
	if resp.StatusCode != 101 || resp.Header.Get("X-Backend") != "ws" {
		t.Errorf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for i := range 5 {
		msg := fmt.Sprint("hello ", i, strings.Repeat("!", i*10000))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo 127.0.0.1 "+msg {
			t.Fatalf("echo %.40q", got)
		}
	}
	if n := p.Load().InFlight; n != 1 {
		t.Errorf("in flight with a session open: %d, want 1", n)
	}
	if n := p.pools[0].bal.InFlight(0); n != 1 {
		t.Errorf("backend in flight with a session open: %d, want 1", n)
	}
	// Silent both ways for IdleTimeout: the proxy closes the session.
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Error("idle session still open")
	}
	waitFor(t, func() bool { return p.Load().InFlight == 0 && p.pools[0].bal.InFlight(0) == 0 })

	// A backend that refuses the upgrade: its answer is relayed.
	plain := newBackend(t, "plain", nil)
	_, addr2 := startProxy(t, onePool(plain))
	_, resp, err = d.Dial("ws://"+addr2+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != 200 {
		t.Errorf("refused upgrade: %v %v", resp, err)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
}
