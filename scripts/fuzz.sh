#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace for a bounded time each.
# Crashers land in the package's testdata/fuzz and stay as regression seeds.
source "$(dirname "$0")/lib.sh"
time_each=${1:-10s}
cd "$PULSESTREAM_ROOT"
found=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for fn in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    found=$((found + 1))
    say "fuzz $dir $fn for $time_each"
    (cd "$dir" && PULSESTREAM_TEST_INTEGRATION=0 go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$time_each" .) || die "fuzz target $fn in $dir failed"
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' platform schemas migrations services tools 2>/dev/null)
say "fuzz: $found targets ran for $time_each each"
