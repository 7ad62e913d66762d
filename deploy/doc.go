// Package deploy holds no code: it is the home of what installs and runs
// aya (the systemd unit, the container image, the release script and the
// example configuration), and its tests check those files as written —
// the unit with systemd-analyze, the configuration with aya check, the
// Dockerfile against the release layout, the archives for reproducibility.
package deploy
