// Package config owns AYA's configuration: it reads the YAML file (or the
// embedded default aya.yaml), applies AYA_* environment variables and command
// line flags on top, fills in defaults, and validates everything at once,
// reporting each problem with the file, line (or variable or flag) and key
// that caused it. Load is for `aya serve`, LoadProxy for `aya proxy`. It is
// the only package that imports viper and the only one that reads the
// environment for settings; it must not open sockets, read zone files, geo
// databases or TLS files, or start anything (the other files it reads are
// proxy.sticky_secret_file and cluster.secret_file, secrets that belong in
// the Config): other
// packages take the plain structs it returns (or their own Config structs
// built from them) and never see viper, pflag or YAML. Where a package owns
// the schema of a section, config decodes into that package's type and
// calls its defaults and validation, placing each error at its key: a
// pool's check is a probes.CheckConfig. Otherwise it does not import the
// packages it configures (geo, policy, cluster, proxy): cmd/aya maps its
// structs onto theirs; it imports proxy/balance only for the list of
// algorithm names, and internal/mtls for what a cluster secret is.
package config
