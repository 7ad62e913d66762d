package cluster

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that the admin API writes as a string, such
// as "30s" or "1.5ms" (time.Duration.String), as Consul's API does, so
// `aya status --json` reads as a duration rather than nanoseconds. It reads
// both the string and a number of nanoseconds (what older nodes wrote).
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is time.Duration's.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON implements json.Marshaler: d as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler: a string time.ParseDuration
// takes, or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\" or nanoseconds (got %s)", b)
	}
	*d = Duration(n)
	return nil
}
