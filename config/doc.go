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
// owns its configuration schema gets its own Config back: the proxy section
// is decoded into proxy.Config, whose yaml tags name the keys, whose
// WithDefaults and Validate own the defaults and the rules, and whose field
// errors config places at file:line; config keeps the layering, positions,
// unknown keys, type errors, relative paths and the checks across sections.
// The other sections are still plain structs of config's that cmd/aya maps
// onto the packages it configures (geo, policy, cluster, probes). It
// imports internal/mtls for what a cluster secret is, and internal/names
// for the name rules it shares with proxy.
package config
