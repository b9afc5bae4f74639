#!/usr/bin/env bash
# Installs the tools the tests need beyond the .NET SDK: shellcheck, which checks the EC2 workers' boot script, and
# python3, which regenerates the Cluster overloads for eng/check-cluster-overloads.sh.
# Safe to run again: it installs only what is missing. .ci/run calls it before `dotnet test`.
set -euo pipefail

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -eq 0 ]; then
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
  "$tool" --version | head -n 2
done
