#!/usr/bin/env bash
# fuzz.sh BUDGET — runs every Go fuzz target of the workspace with BUDGET each:
#   Nx (an execution count, e.g. 20000x): what `make test` uses. Go 1.26's fuzz
#       coordinator can fail a duration budget at its deadline with "context deadline
#       exceeded" and no failing input (golang/go#75804, fixed in Go 1.27); a count
#       budget has no deadline, so this run fails only for a real failing input.
#   a duration (e.g. 2m): what `make fuzz` uses, for people exploring longer. A failure
#       that wrote no reproducer is that coordinator race: it is said so and the target
#       is run once more; a second such failure, or any failure with a reproducer, fails.
# Crashers land in the package's testdata/fuzz/<target> and stay as regression seeds,
# which plain `go test` replays on every run.
source "$(dirname "$0")/lib.sh"
budget=${1:-20000x}
cd "$PULSESTREAM_ROOT"

# corpus_count DIR FN: how many inputs the target's testdata corpus holds.
corpus_count() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | wc -l; }

# fuzz_once DIR FN: one run of the target with the budget.
fuzz_once() { (cd "$1" && PULSESTREAM_TEST_INTEGRATION=0 go test -run '^$' -fuzz "^$2\$" -fuzztime "$budget" .); }

# fuzz_target DIR FN: run it; with a duration budget, retry once a failure without reproducer.
fuzz_target() {
  local dir=$1 fn=$2 before
  before=$(corpus_count "$dir" "$fn")
  fuzz_once "$dir" "$fn" && return 0
  [[ $budget == *x ]] && return 1
  [ "$(corpus_count "$dir" "$fn")" -gt "$before" ] && return 1
  say "fuzz $fn failed without writing a failing input (Go 1.26's deadline race, golang/go#75804): once more"
  fuzz_once "$dir" "$fn"
}

found=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for fn in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    found=$((found + 1))
    say "fuzz $dir $fn, budget $budget"
    fuzz_target "$dir" "$fn" || die "fuzz target $fn in $dir failed (a failing input, if any, is in $dir/testdata/fuzz/$fn)"
  done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' platform schemas migrations tenancy testkit services tools clients 2>/dev/null)
say "fuzz: $found targets ran with budget $budget each"
