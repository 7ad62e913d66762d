package cluster

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDuration: written as a string, read from a string or from the
// nanoseconds older nodes wrote.
func TestDuration(t *testing.T) {
	b, err := json.Marshal(struct{ D Duration }{Duration(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"D":"1.5s"}` {
		t.Errorf("marshal: %s %v", b, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`"30s"`, "30s"},
		{`"1m0s"`, "1m0s"},
		{`30000000000`, "30s"},
		{`"banana"`, `duration: time: invalid duration "banana"`},
		{`true`, `duration: want a string such as "30s" or nanoseconds (got true)`},
	} {
		var d Duration
		var got string
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			got = err.Error()
		} else {
			got = d.String()
		}
		if got != tc.want {
			t.Errorf("unmarshal %s: %s, want %s", tc.in, got, tc.want)
		}
	}
}
