// Package config owns AYA's configuration: it reads the YAML file (or the
// embedded default aya.yaml), applies AYA_* environment variables and command
// line flags on top, fills in defaults, and validates everything at once,
// reporting each problem with the file, line (or variable or flag) and key
// that caused it. Load is for `aya serve`, LoadProxy for `aya proxy`. It is
// the only package that imports viper and the only one that reads the
// environment for settings; it must not open sockets, read zone files, geo
// databases or TLS files, or start anything (the other files it reads are
// proxy.sticky_secret_file and cluster.secret_file, secrets that belong in
// the Config). Other packages never see viper or pflag. A package that
// owns its configuration schema gets its own types back: a pool's check is
// decoded into probes.CheckConfig, the proxy section into proxy.Config;
// their yaml tags name the keys, their WithDefaults and Validate own the
// defaults and the rules, and config places their field errors at
// file:line. config keeps the layering, positions, unknown keys, type
// errors, relative paths and the checks across sections. The defaults of
// the other keys are the owning packages' constants (dnsserver, policy,
// cluster, probes). It imports internal/mtls for what a cluster secret is,
// and internal/names for the name rules it shares with proxy and probes.
package config
