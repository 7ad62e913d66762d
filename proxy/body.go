package proxy

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// uploadPace bounds how long the proxy waits for a request body's bytes
// from the client: each read may wait Limits.IdleTimeout at most, all the
// reads together Limits.BodyTimeout, and once Limits.MinUploadRateGrace
// is spent, no longer than the bytes received so far pay for at
// Limits.MinUploadRate. Only the time spent in reads from the client
// counts: a backend slow to take a streamed body does not make its client
// slow. The limit is a read deadline, so that a client sending a byte now
// and then cannot restart it, as it restarts an idle timer.
type uploadPace struct {
	idle, timeout, grace time.Duration
	rate                 int64 // bytes per second; 0: no minimum

	waited time.Duration // spent in reads so far
	// cause is the limit of the deadline of the last read: the reason
	// when it times out.
	cause rejection
}

// newPace returns the pace of a request body under l.
func newPace(l Limits) uploadPace {
	u := uploadPace{idle: l.IdleTimeout, timeout: l.BodyTimeout, grace: l.MinUploadRateGrace}
	if l.MinUploadRate > 0 {
		u.rate = l.MinUploadRate
	}
	return u
}

// budget returns how long the next read may wait, having got bytes so
// far, and the limit that decides it. A budget of 0 or less is spent.
func (u *uploadPace) budget(got int64) (time.Duration, rejection) {
	d, why := u.idle, rejectBodyIdle
	if left := u.timeout - u.waited; left < d {
		d, why = left, rejectBodyTimeout
	}
	if u.rate > 0 && got >= 0 {
		// got bytes pay for got/rate of waiting beyond the grace; a sum
		// beyond the body timeout cannot bind (and could overflow).
		earned := float64(got) / float64(u.rate)
		if earned < (u.timeout - u.grace).Seconds() {
			allowed := u.grace + time.Duration(earned*float64(time.Second))
			if left := allowed - u.waited; left < d {
				d, why = left, rejectSlowUpload
			}
		}
	}
	return d, why
}

// read reads from the client's body within the pace's budget.
func (b *bodyLimit) read(p []byte) (int, error) {
	d, why := b.pace.budget(b.got)
	b.pace.cause = why
	if d <= 0 {
		return 0, os.ErrDeadlineExceeded
	}
	now := time.Now()
	if b.conn != nil {
		_ = b.conn.SetReadDeadline(now.Add(d))
	}
	n, err := b.r.Read(p)
	b.pace.waited += time.Since(now)
	return n, err
}

// fromPrefix copies the next bytes of the buffered prefix of the body
// into p; it reports false when the prefix is all read.
func (b *bodyLimit) fromPrefix(p []byte) (int, bool) {
	if b.prefix == nil {
		return 0, false
	}
	if b.off >= len(*b.prefix) {
		b.release()
		return 0, false
	}
	n := copy(p, (*b.prefix)[b.off:])
	b.off += n
	return n, true
}

// prefixStart is the first buffer of a body prefix; it doubles as the body
// arrives, up to the prefix's size.
const prefixStart = 4 << 10

// prefixPool holds the buffers of body prefixes (*[]byte).
var prefixPool sync.Pool

// getPrefix returns an empty buffer of capacity n at least.
func getPrefix(n int) *[]byte {
	if bp, ok := prefixPool.Get().(*[]byte); ok && cap(*bp) >= n {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, n)
	return &b
}

// release gives the prefix's buffer back.
func (b *bodyLimit) release() {
	if b.prefix != nil {
		prefixPool.Put(b.prefix)
		b.prefix, b.off = nil, 0
	}
}

// bufferBody reads the first bytes of x's request body from the client,
// before a backend is picked: the whole body when it has a declared length
// up to buffer, else up to buffer bytes. It reports whether the body is in
// x.req whole (or failed, which x's flags tell); when not, the bytes read
// are b's prefix and the rest is to be streamed.
func bufferBody(x *exchange, b *bodyLimit, cl, buffer int) bool {
	if cl >= 0 && cl <= buffer {
		// Read it now, so that a retry can send it again.
		w := x.req.BodyWriter()
		x.req.ResetBody()
		if _, err := io.Copy(w, b); err != nil && !x.tooLarge {
			x.bodyErr = true // already set, unless the writer failed
		}
		x.req.Header.SetContentLength(len(x.req.Body()))
		return true
	}
	// The buffer grows as bytes arrive, so a client that sends a byte and
	// stalls holds prefixStart bytes, not buffer.
	bp := getPrefix(min(buffer, prefixStart))
	buf := *bp
	var err error
	for len(buf) < buffer && err == nil {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), buffer))
			buf = grown[:copy(grown, buf)]
		}
		var n int
		n, err = b.Read(buf[len(buf):min(cap(buf), buffer)])
		buf = buf[:len(buf)+n]
	}
	*bp = buf
	switch {
	case errors.Is(err, io.EOF):
		// A chunked body that fit: send it whole, with its length.
		x.req.SetBody(buf)
		x.req.Header.SetContentLength(len(buf))
		prefixPool.Put(bp)
		return true
	case err != nil:
		// The client failed (x's flags say how): nothing is sent.
		prefixPool.Put(bp)
		return true
	}
	b.prefix, b.off = bp, 0
	return false
}

// clientFault returns why x was refused for its client's body, if it was.
func clientFault(x *exchange) rejection {
	switch {
	case x.tooLarge:
		return rejectBodyTooLarge
	case x.bodyTimeout:
		return x.body.pace.cause
	case x.bodyErr:
		return rejectBodyBroken
	}
	return rejectNone
}
