#!/usr/bin/env bash
# GRPO on the shipped demo task, end to end through the CLI, once per seed: the tiny base model (pre-trained on first
# use), the generated support tickets prepared and tokenized, a short SFT (60 steps: the model is partly right),
# merged, then GRPO with LoRA rewarded for valid JSON and the right category and priority, sampled at temperature 0.7.
# Each seed's SFT model and its GRPO adapter then answer the 200 held-out tickets (`data demo`'s test.jsonl: products
# never seen in training) greedily, scored by the task suite (`finetune eval --suite task`), so the comparison is
# paired: same start, same questions. Writes bench/results/grpo-demo.json (per seed: held-out json_valid and field
# accuracies before and after, with their 95% intervals, answers that turned right and wrong, KL, time).
# Run from the repository root: bash bench/rl/grpo-demo.sh   (SEEDS="1 2 3", STEPS=48 GRPO steps, SFT_STEPS=60,
# OUT=bench/results/grpo-demo.json by default)
set -euo pipefail
root=$(pwd)
seeds=${SEEDS:-1 2 3}
steps=${STEPS:-48}
sft_steps=${SFT_STEPS:-60}
out=${OUT:-bench/results/grpo-demo.json}
dotnet build -c Release tools/FineTune.Cli >/dev/null
ft() { "$root/tools/FineTune.Cli/bin/Release/net10.0/finetune" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
base=$(ft pretrain | tail -1)
ft data demo --out raw >/dev/null
ft data prepare raw/train.jsonl --out prepared >/dev/null
ft data tokenize prepared --model "$base" --out shards >/dev/null
mkdir heldout && cp raw/test.jsonl heldout/test.jsonl
for seed in $seeds; do
  s="seed-$seed"
  mkdir "$s"
  cat > "$s/sft.json" <<JSON
{ "base_model": "$base", "data": { "path": "shards" }, "method": "lora",
  "lora": { "target_modules": ["all-linear"] }, "optimizer": { "lr": 3e-3 },
  "schedule": { "type": "cosine", "warmup_ratio": 0.05 }, "training": { "max_steps": $sft_steps, "seed": $seed },
  "eval": { "every_steps": $sft_steps, "sample_prompts": 0 }, "checkpoint": { "every_steps": $sft_steps },
  "output_dir": "$s/sft" }
JSON
  ft train "$s/sft.json" >/dev/null 2>&1
  ft merge "$base" "$s/sft/adapter" "$s/merged" >/dev/null
  cat > "$s/grpo.json" <<JSON
{ "base_model": "$s/merged", "data": { "path": "shards" }, "objective": "grpo", "method": "lora",
  "lora": { "rank": 16, "alpha": 32, "target_modules": ["all-linear"] },
  "grpo": { "num_generations": 8, "max_new_tokens": 64, "temperature": 0.7, "beta": 0.04,
    "rewards": [ { "type": "json_valid", "weight": 0.5 },
                 { "type": "field_match", "fields": ["category"], "weight": 1.0 },
                 { "type": "field_match", "fields": ["priority"], "weight": 0.5 } ] },
  "optimizer": { "lr": 1e-3 }, "schedule": { "type": "constant", "warmup_steps": 2 },
  "training": { "max_steps": $steps, "micro_batch_size": 8, "seed": $seed },
  "eval": { "every_steps": 16, "max_examples": 64, "sample_prompts": 0 },
  "checkpoint": { "every_steps": 16, "keep_last": 1 }, "output_dir": "$s/grpo" }
JSON
  ft train "$s/grpo.json" >/dev/null 2>&1
  ft eval "$s/merged" --suite task --data heldout --max-new-tokens 64 --out "$s/sft-heldout.json" >/dev/null
  ft eval "$s/merged" --adapter "$s/grpo/adapter" --suite task --data heldout --max-new-tokens 64 \
    --out "$s/grpo-heldout.json" >/dev/null
done
cd "$root"
mkdir -p "$(dirname "$out")"
SFT_STEPS=$sft_steps python3 bench/rl/grpo-demo-summary.py "$work" "$out" $seeds
