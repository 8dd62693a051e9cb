#!/usr/bin/env bash
# The release archive: the shipped plugins built (build-plugins.sh), then aura-host in
# the release profile with them and the scenarios embedded (host/build.rs), packed as
#   target/release-archive/aura-host-<version>-<arch>-linux.tar.gz
# holding aura-host-<version>/bin/aura-host, README.md and docs/operations.md. The
# binary needs nothing else: `aura-host init` writes a project from what it embeds.
# Usage: release.sh [--debug]   (--debug packs the debug build: a quick check of the
# packing, not a release)
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=release
cargo_profile=(--release)
if [ "${1:-}" = "--debug" ]; then
  profile=debug
  cargo_profile=()
fi

bash host/scripts/build-plugins.sh
cargo build "${cargo_profile[@]}" --locked -p aura-host

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
name=aura-host-$version
out=target/release-archive
stage=$out/$name
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/docs"
cp "target/$profile/aura-host" "$stage/bin/"
cp README.md "$stage/"
cp docs/operations.md "$stage/docs/"
# The archive must work from anywhere: init into a scratch directory from the staged
# binary alone.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$stage/bin/aura-host" --version
(cd "$scratch" && "$OLDPWD/$stage/bin/aura-host" init > /dev/null)
archive=$out/$name-$(uname -m)-linux.tar.gz
tar -C "$out" -czf "$archive" "$name"
echo "$archive"
