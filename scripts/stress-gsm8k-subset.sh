#!/usr/bin/env bash
# Issue 26's crash hunt, as a user runs it: `finetune run` on the first 400 GSM8K training records, N times in a row
# (default 20), each in a fresh home so every stage really runs. Prints one line per run (exit code, seconds, decision)
# and fails if any run crashed (a signal such as SIGSEGV = exit 139) or failed. Needs ../shared/data beside the repo.
# Usage: scripts/stress-gsm8k-subset.sh [RUNS] [RECORDS]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
records=${2:-400}
source_file=../shared/data/gsm8k/train.jsonl
[ -f "$source_file" ] || { echo "stress: $source_file not found (clone the project beside its shared/ folder)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/finetune-stress-XXXXXX")
head -n "$records" "$source_file" > "$work/gsm8k-$records.jsonl"
dotnet build -c Release -v q -nologo tools/FineTune.Cli > "$work/build.log" 2>&1 || { echo "stress: build failed; see $work/build.log" >&2; exit 2; }
cli=tools/FineTune.Cli/bin/Release/net10.0/finetune
bad=0
for i in $(seq 1 "$runs"); do
  home="$work/home-$i"
  start=$SECONDS
  "$cli" run "$work/gsm8k-$records.jsonl" --project "gsm8k-$records" --home "$home" --out "$home/out" > "$home.log" 2>&1
  code=$?
  decision=$(sed -n 's/^decision: \([a-z]*\).*/\1/p' "$home.log" | tail -n 1)
  echo "run $i: exit $code in $((SECONDS - start)) s${decision:+, $decision}"
  if [ "$code" -ne 0 ]; then bad=$((bad + 1)); tail -n 5 "$home.log" | sed 's/^/  | /'; fi
  rm -rf "$home"
done
echo "$((runs - bad)) of $runs runs ended cleanly (logs: $work)"
[ "$bad" -eq 0 ]
