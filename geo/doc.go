// Package geo places client addresses: address → Location (coordinates,
// country, continent, or straight to a region) and the network the answer
// holds for, whose prefix length is the ECS scope of a DNS reply.
//
// It owns two inputs, both files named by Config and both reloaded whole:
//
//   - A MaxMind DB of the GeoIP2/GeoLite2 City or Country kind (or a
//     compatible one). A City record places the client at its coordinates
//     (SourceCity); a Country record, or a City record without coordinates,
//     at its country's centre from the table Centroid reads (SourceCountry).
//     The database may also be a small YAML or CSV source file (ParseSource),
//     compiled in memory at load with Build: the repo ships its demo database,
//     zones/geo/demo.yaml, that way, and `aya geo build` writes the same
//     database to an .mmdb file.
//   - An optional overrides file (YAML) of operator networks, CIDR →
//     location or → region, matched by longest prefix ahead of the database
//     (SourceOverride).
//
// # Overrides file
//
//	overrides:
//	  - network: 10.0.0.0/8      # CIDR prefix, or one address
//	    region: eu-west          # straight to a region
//	  - network: 192.0.2.0/24
//	    latitude: 48.85
//	    longitude: 2.35
//	    country: FR              # optional
//	    continent: EU            # optional; from the country when absent
//
// An entry needs a network and at least one of region, latitude with
// longitude, country or continent; a country without coordinates places the
// network at the country's centre. Prefixes are canonical (no host bits set),
// IPv4 ones written as IPv4, each given once. The longest prefix that holds
// the address wins, and an override wins over the database whatever their
// lengths. Location.Network is then shortened, for overrides and database
// records alike, so that it holds no more specific override that the address
// is not in: a resolver caching the answer for that scope never hands it to
// a client that an override places elsewhere.
//
// # Loading
//
// Open refuses a file that is missing, not a regular file (a device, a
// FIFO), larger than Config.MaxFileBytes (checked before it is read),
// corrupt (the whole database is verified), of another database type, or
// with errors (named file:line); Reload does the same and, on any error,
// keeps the state it had. With Config.DeferVerify, Open checks only the
// database's layout, which takes milliseconds where the whole walk takes
// seconds for a full GeoLite2 City, and the caller runs Verify next (in the
// background): lookups are bounds-checked meanwhile, and a database that
// fails is dropped, there being no previous one to keep.
//
// Lookup is on the DNS hot path: it reads an immutable state through an
// atomic pointer, takes no lock, does not allocate, and decodes only the
// fields it needs from the record. The database is read into memory rather
// than memory-mapped, so replacing the file under a running server is safe.
//
// Networks walks every network the DB places, overrides merged as lookups
// merge them, with the Location Lookup gives each of its addresses: `aya
// diff` replays the whole database through the policy with it.
//
// geo does no I/O after a load, starts no goroutines and reads no clocks; it
// knows nothing of pools, regions' health or DNS. Watching the files and
// calling Reload is the caller's business.
package geo
