package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// probeFunc runs one probe; its ctx carries the check's Timeout. A nil
// error is a success.
type probeFunc func(ctx context.Context) error

// newProbe returns the probe of c, which has its defaults applied.
func newProbe(c Check) probeFunc {
	switch c.Kind {
	case KindHTTP, KindHTTPS:
		return newHTTPProbe(c)
	default:
		return newTCPProbe(c)
	}
}

// newTCPProbe connects to the target and closes the connection.
func newTCPProbe(c Check) probeFunc {
	var d net.Dialer
	target := c.Target.String()
	return func(ctx context.Context) error {
		conn, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// newHTTPProbe returns an HTTP or HTTPS probe with a client of its own:
// its transport always dials Target, whatever the Host, opens a fresh
// connection for each probe (no keep-alives, so that every probe tests
// connect and handshake), never uses a proxy and follows no redirects.
func newHTTPProbe(c Check) probeFunc {
	var d net.Dialer
	target := c.Target.String()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", target)
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: bodyLimit,
	}
	if c.Kind == KindHTTPS {
		name := c.TLSServerName
		if name == "" && c.Host != "" {
			if h, _, err := net.SplitHostPort(c.Host); err == nil {
				name = h
			} else {
				name = strings.TrimSuffix(strings.TrimPrefix(c.Host, "["), "]")
			}
		}
		// An empty ServerName makes the transport use the URL's host: the
		// Host field or Target's address (verified against IP SANs).
		tr.TLSClientConfig = &tls.Config{
			ServerName:         name,
			InsecureSkipVerify: c.TLSInsecureSkipVerify, //nolint:gosec // the operator's choice, documented
			RootCAs:            c.RootCAs,
			MinVersion:         tls.VersionTLS12,
		}
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	host := c.Host
	if host == "" {
		host = target
	}
	u := string(c.Kind) + "://" + host + c.Path
	method, lo, hi, match := c.Method, c.ExpectStatus[0], c.ExpectStatus[1], c.BodyMatch
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", c.UserAgent)
		resp, err := client.Do(req)
		if err != nil {
			if uerr, ok := errors.AsType[*url.Error](err); ok {
				return uerr.Err // drop the "Get <url>:" prefix
			}
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body := io.LimitReader(resp.Body, bodyLimit)
		var readErr error
		var matched bool
		if match != nil {
			b, err := io.ReadAll(body)
			readErr = err
			matched = match.Match(b)
		} else {
			_, readErr = io.Copy(io.Discard, body)
		}
		switch {
		case resp.StatusCode < lo || resp.StatusCode > hi:
			return fmt.Errorf("status %d not in [%d, %d]", resp.StatusCode, lo, hi)
		case readErr != nil:
			return fmt.Errorf("read body: %w", readErr)
		case match != nil && !matched:
			return fmt.Errorf("body does not match %q", match.String())
		}
		return nil
	}
}
