package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

var update = flag.Bool("update", false, "update golden files")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestRender(t *testing.T) {
	db := testDB(t, "")
	for _, tc := range []struct {
		name  string
		after func(s *Side)
	}{
		{"nochange", func(*Side) {}},
		{
			// eu-west drained; a new name; api's pool falls back to
			// SERVFAIL and loses ap-northeast; www's eu-central renumbered.
			"plan",
			func(s *Side) {
				s.State = &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "maintenance"}}
				s.Names = append(s.Names, Name{"static.gslb.example.com.", "api"})
				web := webPool()
				web.Members[1] = member(euCentral, 120)
				api := apiPool()
				api.Members = api.Members[:1]
				api.Fallback = policy.Servfail
				s.Pools = map[string]*policy.Pool{"web": web, "api": api}
				s.State.Down = map[state.EndpointKey]string{
					{Pool: "api", Region: "us-east", Endpoint: "us-east-a"}: "timeout",
					{Pool: "api", Region: "us-east", Endpoint: "us-east-b"}: "timeout",
				}
			},
		},
		{
			// Every region of web drained: www answers its fallback
			// addresses, and api, rebound to a copy of web that fails
			// open, the nearest region anyway.
			"fallbacks",
			func(s *Side) {
				web := webPool()
				web.Fallback = policy.FallbackAddrs
				web.FallbackAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.250"), netip.MustParseAddr("2001:db8::250")}
				open := webPool()
				open.Name = "web-open"
				s.Pools = map[string]*policy.Pool{"web": web, "web-open": open}
				s.Names[1].Pool = "web-open"
				s.State = &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "", "eu-central": "", "us-east": "", "ap-northeast": ""}}
			},
		},
		{
			"removed",
			func(s *Side) { s.Names = s.Names[1:] },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := running()
			tc.after(&after)
			r, err := Compute(t.Context(), db, running(), after, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var text, js bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".golden", text.Bytes())
			golden(t, tc.name+".json.golden", js.Bytes())
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&back, r) {
				t.Errorf("JSON does not read back\n got %+v\nwant %+v", back, *r)
			}
		})
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 65536: "65,536", 4294967296: "4,294,967,296"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
