#!/usr/bin/env bash
# Installs the tools the tests need beyond the .NET SDK: shellcheck, which checks the EC2 workers' boot script.
# Safe to run again: it installs only what is missing. .ci/run calls it before `dotnet test`.
set -euo pipefail

if command -v shellcheck >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: shellcheck is missing and apt-get is not available; install shellcheck with your package manager." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq shellcheck >/dev/null
shellcheck --version | head -n 2
