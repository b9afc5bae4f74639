#!/usr/bin/env bash
# Checks that src/Coiled.Remote/Cluster.*.g.cs are what eng/generate-cluster-overloads.py writes: it regenerates
# them in place and compares with the committed files (with a copy taken before, where git is not available).
# Exit 0: in sync, or skipped because python3 is missing outside CI. Exit 1: they differ, or python3 is missing
# under CI=true. .ci/run calls it before `dotnet test`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

generated_glob='src/Coiled.Remote/Cluster.*.g.cs'

if ! command -v python3 >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "check-cluster-overloads: FAILED: python3 is missing, so the Cluster overloads could not be regenerated and checked (bash eng/install-test-tools.sh installs it)." >&2
    exit 1
  fi
  echo "check-cluster-overloads: SKIPPED: python3 is missing, so $generated_glob were not checked against eng/generate-cluster-overloads.py."
  exit 0
fi

use_git=false
if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  use_git=true
fi

before=""
if [ "$use_git" = false ]; then
  before="$(mktemp -d)"
  trap 'rm -rf "$before"' EXIT
  # shellcheck disable=SC2086 # the glob names the generated files
  cp $generated_glob "$before"/
fi

if ! python3 eng/generate-cluster-overloads.py; then
  echo "check-cluster-overloads: FAILED: python3 eng/generate-cluster-overloads.py did not run to the end." >&2
  exit 1
fi

differs=false
if [ "$use_git" = true ]; then
  # Modified or new generated files; --exit-code alone would miss a file the generator writes that was never committed.
  git diff --exit-code --stat -- "$generated_glob" || differs=true
  if [ -n "$(git ls-files --others --exclude-standard -- "$generated_glob")" ]; then
    git ls-files --others --exclude-standard -- "$generated_glob"
    differs=true
  fi
else
  for file in $generated_glob; do
    name="$(basename "$file")"
    if [ ! -f "$before/$name" ]; then
      echo "new file: $file"
      differs=true
    elif ! cmp -s "$before/$name" "$file"; then
      diff -u "$before/$name" "$file" | head -n 40
      differs=true
    fi
  done
fi

if [ "$differs" = true ]; then
  echo "check-cluster-overloads: FAILED: $generated_glob differ from what eng/generate-cluster-overloads.py writes. Run \`python3 eng/generate-cluster-overloads.py\` from the repository root and commit the result (and PublicAPI.Unshipped.txt for any new overload)." >&2
  exit 1
fi
echo "check-cluster-overloads: $generated_glob match eng/generate-cluster-overloads.py."
