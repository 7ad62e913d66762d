package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rawPair returns a loopback TCP connection read and written through
// rawIO, and its peer.
func rawPair(t *testing.T) (*trackedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var tr connTracker
	tc := tr.add(c, 1)
	if tc.raw == nil {
		t.Fatal("a TCP connection got no raw I/O")
	}
	t.Cleanup(func() { _ = tc.Close(); _ = peer.Close() })
	return tc, peer
}

func TestRawIO(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *trackedConn, peer net.Conn)
	}{
		{"read what the peer wrote", func(t *testing.T, c *trackedConn, peer net.Conn) {
			go func() { _, _ = peer.Write([]byte("hello")) }()
			buf := make([]byte, 16)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("read %q, %v; want hello", buf[:n], err)
			}
			if !c.used.Load() {
				t.Fatal("a read byte did not mark the connection used")
			}
		}},
		{"EOF after the peer closed", func(t *testing.T, c *trackedConn, peer net.Conn) {
			_ = peer.Close()
			n, err := c.Read(make([]byte, 16))
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("read %d, %v; want 0, EOF", n, err)
			}
		}},
		{"read deadline", func(t *testing.T, c *trackedConn, _ net.Conn) {
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(20 * time.Millisecond))
			_, err := c.Read(make([]byte, 16))
			if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v, want a timeout", err)
			}
			if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
				t.Fatalf("timed out after %v", d)
			}
		}},
		{"read past the deadline", func(t *testing.T, c *trackedConn, _ net.Conn) {
			_ = c.SetReadDeadline(time.Now().Add(-time.Second))
			if _, err := c.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v, want %v", err, os.ErrDeadlineExceeded)
			}
		}},
		{"read of a closed connection", func(t *testing.T, c *trackedConn, _ net.Conn) {
			_ = c.Close()
			if _, err := c.Read(make([]byte, 16)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read: %v, want %v", err, net.ErrClosed)
			}
		}},
		{"close unblocks a read", func(t *testing.T, c *trackedConn, _ net.Conn) {
			errc := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 16))
				errc <- err
			}()
			time.Sleep(10 * time.Millisecond)
			_ = c.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read: %v, want %v", err, net.ErrClosed)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("read still blocked 2s after close")
			}
		}},
		{"zero-length read and write", func(t *testing.T, c *trackedConn, _ net.Conn) {
			if n, err := c.Read(nil); n != 0 || err != nil {
				t.Fatalf("read: %d, %v", n, err)
			}
			if n, err := c.Write(nil); n != 0 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
		}},
		{"write larger than the socket buffers", func(t *testing.T, c *trackedConn, peer net.Conn) {
			// 8 MiB does not fit the kernel's buffers: the write waits
			// for the peer to read (EAGAIN, then the poller).
			data := bytes.Repeat([]byte("0123456789abcdef"), 512<<10)
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(peer, int64(len(data))))
				got <- b
			}()
			n, err := c.Write(data)
			if n != len(data) || err != nil {
				t.Fatalf("write: %d, %v; want %d, nil", n, err, len(data))
			}
			if b := <-got; !bytes.Equal(b, data) {
				t.Fatalf("peer read %d bytes, not the %d written", len(b), len(data))
			}
		}},
		{"write deadline while the peer does not read", func(t *testing.T, c *trackedConn, _ net.Conn) {
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := c.Write(make([]byte, 64<<20))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %d, %v; want a timeout", n, err)
			}
			if n <= 0 || n >= 64<<20 {
				t.Fatalf("wrote %d bytes before the timeout, want some, not all", n)
			}
		}},
		{"write to a reset connection", func(t *testing.T, c *trackedConn, peer net.Conn) {
			_ = peer.(*net.TCPConn).SetLinger(0)
			_ = peer.Close()
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = c.Write([]byte("x"))
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("write: %v, want ECONNRESET or EPIPE", err)
			}
		}},
		{"concurrent writes stay whole", func(t *testing.T, c *trackedConn, peer net.Conn) {
			const writers, each = 8, 64 << 10
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					if _, err := c.Write(bytes.Repeat([]byte{'a' + byte(i)}, each)); err != nil {
						t.Error(err)
					}
				})
			}
			all := make([]byte, writers*each)
			if _, err := io.ReadFull(peer, all); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			for off := 0; off < len(all); off += each {
				if chunk := all[off : off+each]; !bytes.Equal(chunk, bytes.Repeat(chunk[:1], each)) {
					t.Fatalf("the write at %d is interleaved with another", off)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := rawPair(t)
			tt.run(t, c, peer)
		})
	}
}

// TestRawIOOnlyTCP checks that a connection that is not TCP keeps its own
// reads and writes.
func TestRawIOOnlyTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var tr connTracker
	tc := tr.add(a, 1)
	if tc.raw != nil {
		t.Fatal("a pipe got raw I/O")
	}
	go func() { _, _ = b.Write([]byte("pipe")) }()
	buf := make([]byte, 8)
	if n, err := tc.Read(buf); err != nil || string(buf[:n]) != "pipe" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
