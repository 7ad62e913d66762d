package cluster

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEncode(t *testing.T) {
	at := time.Unix(0, 1767225600000000042)
	k := kA1
	for _, tc := range []struct {
		name string
		cmd  byte
		v    any
		want string
	}{
		{"observe", CmdObserve, Observe{Site: "s1", Key: kA1, Err: "refused"},
			"\x01" + `{"at":1767225600000000042,"v":{"site":"s1","key":{"Pool":"web","Region":"eu","Endpoint":"a1"},"up":false,"err":"refused"}}`},
		{"drain endpoint", CmdDrain, Drain{Endpoint: &k, Reason: "disk", By: "bob"},
			"\x02" + `{"at":1767225600000000042,"v":{"endpoint":{"Pool":"web","Region":"eu","Endpoint":"a1"},"reason":"disk","by":"bob"}}`},
		{"undrain region", CmdUndrain, Undrain{Region: "eu", By: "al"},
			"\x03" + `{"at":1767225600000000042,"v":{"region":"eu","by":"al"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.cmd, at, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("got  %q\nwant %q", b, tc.want)
			}
		})
	}
	if _, err := Encode(CmdObserve, at, func() {}); err == nil {
		t.Fatal("encoding a func succeeded")
	}
}

// TestEncodeEnvelope: Encode writes the envelope as json.Marshal would.
func TestEncodeEnvelope(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	for _, v := range []any{Drain{Region: "eu", Reason: "r <&> \"q\"", By: "x"}, Meta{ID: "a"}, []byte{0, 1, 2, 255}} {
		got, err := Encode(CmdDrain, at, v)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(v)
		env, _ := json.Marshal(envelope{At: at.UnixNano(), V: body})
		if want := append([]byte{CmdDrain}, env...); !bytes.Equal(got, want) {
			t.Errorf("%T: %q, want %q", v, got, want)
		}
	}
}
