package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitApplied: every member is asked until its view shows the change;
// one that applies it late counts, one that never does, one that does not
// answer and one without an admin address are reported with why.
func TestWaitApplied(t *testing.T) {
	member := func(drainedAfter int) *httptest.Server {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			v := View{Index: 7, Drains: []DrainView{}}
			if drainedAfter >= 0 && int(calls.Add(1)) > drainedAfter {
				v.Drains = append(v.Drains, DrainView{Region: "eu-west", Why: "x (by a)"})
			}
			_ = json.NewEncoder(w).Encode(StatusResponse{View: v})
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	now, late, never := member(0), member(2), member(-1)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	st := &StatusResponse{
		Node: Status{Members: []Member{{ID: "s4"}, {ID: "s2"}, {ID: "s1"}, {ID: "s3"}, {ID: "s5"}}},
		View: View{Admins: map[string]string{"s1": addr(now), "s2": addr(late), "s3": addr(never), "s5": addr(gone)}},
	}
	done := func(v View) bool {
		for _, d := range v.Drains {
			if d.Target() == "eu-west" && d.Why == "x (by a)" {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	got := (&Client{}).WaitApplied(ctx, st, done, 20*time.Millisecond)
	want := []Applied{
		{ID: "s1", Admin: addr(now), OK: true},
		{ID: "s2", Admin: addr(late), OK: true},
		{ID: "s3", Admin: addr(never), Err: "not applied yet, at index 7"},
		{ID: "s4", Err: "no admin address known"},
		{ID: "s5", Admin: addr(gone), Err: "dial tcp " + addr(gone) + ": connect: connection refused"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
