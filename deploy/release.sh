#!/usr/bin/env bash
# deploy/release.sh: the release archives, as `make release` builds them.
#
# For each of ARCHES (linux): a static, stripped aya built reproducibly
# (CGO_ENABLED=0, -trimpath, no VCS stamp, no build id), and
# DIST/aya-VERSION-linux-ARCH.tar.gz with it, LICENSE, NOTICE,
# THIRD_PARTY_LICENSES, README.md, CHANGELOG.md, aya.yaml (deploy/aya.yaml),
# the example zones/ it names and aya.service; then DIST/SHA256SUMS. The same sources, VERSION, COMMIT,
# SOURCE_DATE_EPOCH and Go toolchain give the same bytes, wherever the
# checkout is. The unpacked trees stay in DIST/aya-VERSION-linux-ARCH/
# (the build context of deploy/docker/Dockerfile).
#
# Environment: VERSION, COMMIT and SOURCE_DATE_EPOCH (required; the
# Makefile derives them from git), DIST (default dist), GO (default go),
# ARCHES (default "amd64 arm64").
set -euo pipefail
cd "$(dirname "$0")/.."

: "${VERSION:?VERSION is required}" "${COMMIT:?COMMIT is required}" "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is required}"
DIST=${DIST:-dist}
GO=${GO:-go}
ARCHES=${ARCHES:-amd64 arm64}
export LC_ALL=C TZ=UTC

# third_party_licenses ARCH: the license files of every module built into
# aya for linux/ARCH, as each module ships them (MIT, BSD and ISC ask for
# their text beside a binary; MPL-2.0 for where the source is).
third_party_licenses() {
  echo "The aya binary includes the Go modules below. Each one's license files"
  echo "follow, as the module ships them; its source is that module at that"
  echo "version (go mod download MODULE@VERSION)."
  GOOS=linux GOARCH="$1" GOFLAGS=-mod=readonly "$GO" list -deps \
    -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/aya |
    sort -u | while read -r path version dir; do
      printf '\n==========================================================================\n%s %s\n' "$path" "$version"
      find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E' -o -iname 'LICEN[CS]E[.-]*' \
        -o -iname COPYING -o -iname 'COPYING.*' -o -iname PATENTS \) | sort | while read -r f; do
        printf '\n--- %s\n\n' "${f##*/}"
        cat "$f"
      done
    done
}

mkdir -p "$DIST"
archives=()
for arch in $ARCHES; do
  name=aya-$VERSION-linux-$arch
  stage=$DIST/$name
  rm -rf "$stage" "$DIST/$name.tar.gz"
  mkdir -p "$stage"
  # GOAMD64/GOARM64 pinned to the baselines, GOFLAGS cleared: the
  # caller's environment must not change the binary.
  env CGO_ENABLED=0 GOOS=linux GOARCH="$arch" GOAMD64=v1 GOARM64=v8.0 GOFLAGS=-mod=readonly \
    "$GO" build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/aya-gslb/aya.Version=$VERSION -X github.com/aya-gslb/aya.Commit=$COMMIT" \
      -o "$stage/aya" ./cmd/aya
  cp LICENSE NOTICE README.md CHANGELOG.md "$stage/"
  third_party_licenses "$arch" > "$stage/THIRD_PARTY_LICENSES"
  cp deploy/aya.yaml "$stage/aya.yaml"
  cp deploy/systemd/aya.service "$stage/aya.service"
  mkdir -p "$stage/zones/geo"
  cp zones/*.zone "$stage/zones/"
  cp zones/geo/demo.yaml "$stage/zones/geo/"
  chmod -R u=rwX,go=rX "$stage"
  chmod 0755 "$stage/aya"
  # Names sorted, one time, owner root by number, modes set above (not
  # left to the umask), no gzip name or time.
  tar -C "$DIST" --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
    --owner=0 --group=0 --numeric-owner \
    -cf - "$name" | gzip -n -9 > "$DIST/$name.tar.gz"
  archives+=("$name.tar.gz")
done
(cd "$DIST" && sha256sum "${archives[@]}" > SHA256SUMS)
cat "$DIST/SHA256SUMS"
