#!/usr/bin/env bash
# Installs the tools the tests need beyond the .NET SDK: shellcheck, which checks the EC2 workers' boot script;
# python3, which regenerates the Cluster overloads for eng/check-cluster-overloads.sh; node and npm, which run the
# s3rver npm package, the EC2 tests' local S3 endpoint, installed into ~/.cache/coiled-remote-tests/s3rver; chromium,
# the headless browser in which Playwright tests the dashboard (Playwright downloads no browser of its own here).
# Safe to run again: it installs only what is missing. .ci/run calls it before `dotnet test`.
set -euo pipefail

s3rver_version=3.7.1
s3rver_dir="${HOME}/.cache/coiled-remote-tests/s3rver"

install_s3rver() {
  if [ -f "$s3rver_dir/node_modules/s3rver/package.json" ] \
    && grep -q "\"version\": \"$s3rver_version\"" "$s3rver_dir/node_modules/s3rver/package.json"; then
    return 0
  fi
  mkdir -p "$s3rver_dir"
  npm install --prefix "$s3rver_dir" --no-audit --no-fund --no-save "s3rver@$s3rver_version" >/dev/null
  echo "install-test-tools: s3rver $s3rver_version in $s3rver_dir"
}

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then
  install_s3rver
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: missing ${missing[*]}, and apt-get is not available; install them with your package manager." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
for tool in "${missing[@]}"; do
  case "$tool" in
    nodejs) node --version ;;
    *) "$tool" --version | head -n 2 ;;
  esac
done
install_s3rver
