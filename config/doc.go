// Package config owns AYA's configuration: it reads the YAML file (or the
// embedded default aya.yaml), applies AYA_* environment variables and command
// line flags on top, fills in defaults, and validates everything at once,
// reporting each problem with the file, line (or variable or flag) and key
// that caused it. It is the only package that imports viper and the only one
// that reads the environment for settings; it must not open sockets, read
// zone files, geo databases or TLS files, or start anything: other packages take the
// plain structs it returns (or their own Config structs built from them) and
// never see viper, pflag or YAML. It does not import the packages it
// configures (geo, policy, cluster, probes): cmd/aya maps its structs onto
// theirs.
package config
