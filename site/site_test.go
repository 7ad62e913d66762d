package site

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestFollowsReleaseAppliedDuringReload: a release this site applies from
// its files lands while its loop is busy reloading (SIGHUP after SIGHUP,
// as a deploy tool that signals after each file it writes). The loop
// must serve it once it is free, not wait for the cluster's next change:
// a CI run of cmd/aya TestServeReload saw "release applied" and no
// "release serving" for 5 s when the apply landed inside a SIGHUP reload.
func TestFollowsReleaseAppliedDuringReload(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "zones", "example.com.zone"), signingZone)
	write(t, filepath.Join(dir, "aya.yaml"), fmt.Sprintf(signingConfig, "s1", "127.77.91.1", "127.77.91.1", true)+"release: {watch: true}\n")
	s := runSigningSite(t, dir, false)
	waitUntil(t, 15*time.Second, "the first release served", func() bool { return s.site.rel.Load() != nil })
	first := s.site.rel.Load().Release.Version

	write(t, filepath.Join(s.dir, "zones", "example.com.zone"), strings.Replace(signingZone, "192.0.2.20", "192.0.2.21", 1))
	// Keep the loop reloading for longer than the apply takes (a Raft
	// commit on loopback: tens of milliseconds).
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		s.site.hup <- syscall.SIGHUP
	}
	waitUntil(t, 3*time.Second, "the applied release served", func() bool {
		rel, cur := s.node.Release(), s.site.rel.Load()
		return rel != nil && rel.Version > first && cur.Release.Digest == rel.Digest
	})
	if got := answerA(t, s, "static.example.com."); got != "192.0.2.21" {
		t.Errorf("static.example.com. A %q, want the new 192.0.2.21", got)
	}
}

// answerA is the first address of s's answer to name A over UDP.
func answerA(t *testing.T, s *runningSite, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, s.dns.UDPAddrs()[0].String())
	if err != nil {
		t.Fatalf("%s A: %v", name, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}
