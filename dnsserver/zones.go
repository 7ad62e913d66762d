package dnsserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/names"
)

// Zones is an immutable set of zones, the unit a reload swaps.
type Zones struct {
	byOrigin map[string]*Zone
}

// NewZones makes a set of the given zones; two zones with one origin is an error.
func NewZones(zs ...*Zone) (*Zones, error) {
	s := &Zones{byOrigin: make(map[string]*Zone, len(zs))}
	for _, z := range zs {
		if prev, ok := s.byOrigin[z.Origin]; ok {
			return nil, &ZoneError{File: z.File, Msg: fmt.Sprintf("zone %s is already loaded from %s", z.Origin, prev.File)}
		}
		s.byOrigin[z.Origin] = z
	}
	return s, nil
}

// List returns the zones sorted by origin.
func (s *Zones) List() []*Zone {
	if s == nil {
		return nil
	}
	out := make([]*Zone, 0, len(s.byOrigin))
	for _, z := range s.byOrigin {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *Zone) int { return strings.Compare(a.Origin, b.Origin) })
	return out
}

// Zone returns the zone with that origin, or nil.
func (s *Zones) Zone(origin string) *Zone {
	if s == nil {
		return nil
	}
	return s.byOrigin[names.Canonical(origin)]
}

// find returns the zone that is the closest enclosing zone of the
// lower-case, fully qualified name, or nil when none is ours.
func (s *Zones) find(name string) *Zone {
	if s == nil {
		return nil
	}
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z, ok := s.byOrigin[name[off:]]; ok {
			return z
		}
	}
	return s.byOrigin["."]
}

// LoadDir parses every <origin>.zone file in dir and checks that every pool
// its GSLB records name is one of pools (see Zone.CheckPools). A file that
// fails keeps the zone prev had for that origin, if any, so that one broken
// file never takes a zone down on reload; its error is returned all the same
// (joined, one per file). A zone whose file is gone is dropped. A file whose
// name spells the origin of a file before it (names.Canonical) is an
// error, and skipped. Each file is parsed within lim.
func LoadDir(dir string, prev *Zones, pools []string, lim ZoneLimits) (*Zones, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"+ZoneFileSuffix))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("zones directory: %w", err)
	}
	slices.Sort(files)
	var (
		zones []*Zone
		errs  []error
		from  = make(map[string]string, len(files)) // origin → the file it was loaded from
	)
	for _, f := range files {
		origin := OriginFromFile(f)
		// Two file names can spell one origin (a\098c.test.zone and
		// abc.test.zone): the first in name order serves it, the other is
		// an error of its own, not of every zone.
		if first, ok := from[origin]; ok {
			errs = append(errs, &ZoneError{File: f, Msg: fmt.Sprintf("zone %s is already loaded from %s: the two file names spell one origin", origin, first)})
			continue
		}
		from[origin] = f
		z, err := lim.ParseFile(f, origin)
		if err == nil {
			err = z.CheckPools(pools)
		}
		if err != nil {
			errs = append(errs, err)
			if old := prev.Zone(origin); old != nil {
				zones = append(zones, old)
			}
			continue
		}
		zones = append(zones, z)
	}
	set, err := NewZones(zones...)
	if err != nil {
		return nil, err
	}
	return set, errors.Join(errs...)
}
