#!/usr/bin/env bash
# Builds each named function in functions/ as a Lambda bootstrap for provided.al2023 on arm64
# (-tags lambda.norpc, -trimpath, stripped) and zips it reproducibly (scripts/lambdazip: fixed
# timestamp and mode), so the same source gives the same zip hash.
#
# usage: scripts/package.sh FUNCTION...
#   GOARCH=amd64 DIST=dist/host builds for the host instead, for the Lambda runtime emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${GOARCH:-arm64}
out=${DIST:-dist}
mkdir -p "$out"
for fn in "$@"; do
  work=$(mktemp -d)
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false -tags lambda.norpc \
    -ldflags '-s -w -buildid=' -o "$work/bootstrap" "./functions/$fn"
  env -u GOARCH -u GOOS go run ./scripts/lambdazip "$out/$fn.zip" "$work/bootstrap"
  rm -rf "$work"
  echo "$out/$fn.zip sha256=$(sha256sum "$out/$fn.zip" | cut -c1-16)… $(stat -c %s "$out/$fn.zip") bytes"
done
