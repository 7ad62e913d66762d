package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

// Command types: the first byte of a log entry.
const (
	CmdObserve byte = 1 // a site's observation of an endpoint (Observe)
	CmdDrain   byte = 2 // an operator drain (Drain)
	CmdUndrain byte = 3 // an operator undrain (Undrain)
	CmdMeta    byte = 4 // a member's metadata (Meta)

	// IgnoreUnknown, set in a type byte, tells a binary that does not know
	// the type to skip the entry quietly instead of as a corrupt one.
	IgnoreUnknown byte = 0x80
)

// Observe is a site's observation of an endpoint.
type Observe struct {
	Site          string            `json:"site"`
	Key           state.EndpointKey `json:"key"`
	Up            bool              `json:"up"`
	LatencyMicros int64             `json:"latency_us,omitempty"`
	Err           string            `json:"err,omitempty"`
}

// Drain drains a region (Endpoint nil) or one endpoint (Region is then
// ignored: the key names the region).
type Drain struct {
	Region   string             `json:"region,omitempty"`
	Endpoint *state.EndpointKey `json:"endpoint,omitempty"`
	Reason   string             `json:"reason"`
	By       string             `json:"by"`
}

// Why is what the state and the history record of d: "reason (by who)".
func (d Drain) Why() string { return fmt.Sprintf("%s (by %s)", d.Reason, d.By) }

// Undrain removes a drain of a region (Endpoint nil) or one endpoint.
type Undrain struct {
	Region   string             `json:"region,omitempty"`
	Endpoint *state.EndpointKey `json:"endpoint,omitempty"`
	By       string             `json:"by"`
}

// Meta records a member's admin API address, which followers forward
// writes to when that member leads. An empty Admin forgets the member.
type Meta struct {
	ID    string `json:"id"`
	Admin string `json:"admin,omitempty"`
}

// envelope is the JSON body of every entry: the leader's time and the command.
type envelope struct {
	At int64           `json:"at"`
	V  json.RawMessage `json:"v"`
}

// Encode returns a log entry: the type byte, then JSON holding at (the
// leader's time, unix nanoseconds) and v. Only the leader calls it, when it
// proposes; Apply never reads a clock.
func Encode(cmd byte, at time.Time, v any) ([]byte, error) {
	if r, ok := v.(*release.Release); ok {
		return encodeReleaseEntry(cmd, at, r)
	}
	return encodeJSON(cmd, at, v)
}

// encodeReleaseEntry is Encode of a release, byte for byte
// (TestEncodeRelease), with the zone files written straight into the
// entry, sized once (encodeRelease): json.Marshal of the release of a zone
// of a million records (24 MB of files, 32 MB of base64) grew its buffer by
// doubling and copied the result twice, about 160 MB of garbage beside the
// zones, and kept a 32 MB buffer in its pool.
func encodeReleaseEntry(cmd byte, at time.Time, r *release.Release) ([]byte, error) {
	size := 4096 + 6*(len(r.By)+len(r.Source)+len(r.Config.Name)) + base64.StdEncoding.EncodedLen(len(r.Config.Data))
	for _, f := range r.Zones {
		size += 32 + 6*len(f.Name) + base64.StdEncoding.EncodedLen(len(f.Data))
	}
	buf := bytes.NewBuffer(entryHead(make([]byte, 0, size), cmd, at))
	if err := encodeRelease(buf, r); err != nil {
		return nil, fmt.Errorf("encode command %d: %w", cmd, err)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// encodeJSON is Encode through json.Marshal.
func encodeJSON(cmd byte, at time.Time, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", cmd, err)
	}
	// The bytes json.Marshal makes of envelope{at, body} (body is compact
	// already), written once: a release's entry is tens of megabytes, and
	// marshalling the envelope would scan and copy it twice more.
	out := entryHead(make([]byte, 0, len(body)+32), cmd, at)
	out = append(out, body...)
	return append(out, '}'), nil
}

// entryHead appends to b what comes before v in an entry.
func entryHead(b []byte, cmd byte, at time.Time) []byte {
	b = append(b, cmd)
	b = append(b, `{"at":`...)
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	return append(b, `,"v":`...)
}

// CorruptEntryError is what Apply logs and returns for an entry it skips:
// empty, of an unknown type without IgnoreUnknown, of a known type that does
// not decode, or stamped too far ahead of its append time.
type CorruptEntryError struct {
	Index uint64
	Type  byte
	Err   error
}

func (e *CorruptEntryError) Error() string {
	return fmt.Sprintf("cluster: corrupt log entry %d (type %#x): %v", e.Index, e.Type, e.Err)
}

func (e *CorruptEntryError) Unwrap() error { return e.Err }
