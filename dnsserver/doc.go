// Package dnsserver is AYA's authoritative nameserver: it parses and checks
// the zone files (RFC 1035 master files), keeps them as an immutable set
// behind an atomic pointer, and answers queries over UDP and TCP as an
// authoritative server must (RFC 1034, 2181, 2308, 4592, 5936, 6891, 7766,
// 7871, 8482). It never recurses and never answers outside its zones.
//
// A query reads one published view (zones, precomputed replies, options)
// without locks; reloads build a new view and swap it. It owns no
// configuration format (it takes a Config struct) and no goroutines beyond
// its listeners and the NOTIFY sender (notify.go), all under Serve.
package dnsserver
