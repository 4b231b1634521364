#!/usr/bin/env bash
# The README's test command: installs (when missing) and starts what the tests need, builds the solution, runs every test
# project, checks the code style, and ends with one line "N passed, N failed, N skipped" summed over every test project
# (CI reads that line; .ci/run calls this script). The servers it started are stopped when it ends, so a clone deleted
# afterwards leaves nothing holding the ports; servers that were already running are left alone, and
# FINETUNE_KEEP_SERVERS=1 keeps them all for a rerun.
set -uo pipefail
cd "$(dirname "$0")/.."

setup_log=$(mktemp)
bash scripts/setup-test-env.sh 2>&1 | tee "$setup_log"
setup_status=${PIPESTATUS[0]}
if [ "${FINETUNE_KEEP_SERVERS:-0}" != 1 ] && ! grep -q "already" "$setup_log"; then
  trap 'bash scripts/infra-stop.sh >/dev/null 2>&1' EXIT
fi
rm -f "$setup_log"
[ "$setup_status" -eq 0 ] || { echo "0 passed, 1 failed"; exit 1; }
# Point the tests at the servers setup-test-env.sh started (tests that need one skip when its variables are unset).
if [ -f .run/infra.env ]; then source .run/infra.env; fi

# Stale results from an earlier run must not be counted.
find tests -type d -name TestResults -prune -exec rm -rf {} +

# tests/Directory.Build.props makes every test project write a .trx file next to it. The README, integration and
# AppHost tests come first in FineTunePipeline.sln, so the longest projects start first on the two nodes.
dotnet build FineTunePipeline.sln && dotnet test FineTunePipeline.sln --no-build
status=$?

# The house style (.editorconfig): whitespace, as the README says (no build needed: --folder); line length, using order
# and statement layout are FineTune.Style.Tests' part. Code that is not formatted counts as one failed test.
dotnet format whitespace . --folder --verify-no-changes
format_status=$?

passed=0; failed=0; skipped=0; files=0
while IFS= read -r -d '' trx; do
  files=$((files + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get total) - $(get executed)))  # dynamic skips are counted as not executed
done < <(find tests -path '*/TestResults/*' -name '*.trx' -print0)

if [ "$format_status" -ne 0 ]; then
  echo "dotnet format: the code above is not formatted; run: dotnet format whitespace . --folder"
  failed=$((failed + 1))
fi
if [ "$files" -eq 0 ] || { [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
  # The build or the test host failed before any result was written: count it as a failure, never as green.
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$format_status" -eq 0 ]
