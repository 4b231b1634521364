#!/usr/bin/env bash
# GRPO on the shipped demo task, end to end through the CLI: the tiny base model (pre-trained on first use), the
# generated support tickets prepared and tokenized, a short SFT (60 steps, so the model is partly right), merged,
# then GRPO with LoRA rewarded for valid JSON and the right category and priority, sampled at temperature 0.7.
# Writes bench/results/grpo-demo.json: the greedy answers' rewards on the held-out validation prompts at each
# evaluation, the sampled ones per block of steps, KL to the SFT model, and the time taken.
# Run from the repository root: bash bench/rl/grpo-demo.sh
set -euo pipefail
root=$(pwd)
dotnet build -c Release tools/FineTune.Cli >/dev/null
ft() { "$root/tools/FineTune.Cli/bin/Release/net10.0/finetune" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
base=$(ft pretrain | tail -1)
ft data demo --out raw >/dev/null
ft data prepare raw/train.jsonl --out prepared >/dev/null
ft data tokenize prepared --model "$base" --out shards >/dev/null
cat > sft.json <<JSON
{ "base_model": "$base", "data": { "path": "shards" }, "method": "lora",
  "lora": { "target_modules": ["all-linear"] }, "optimizer": { "lr": 3e-3 },
  "schedule": { "type": "cosine", "warmup_ratio": 0.05 }, "training": { "max_steps": 60 },
  "eval": { "every_steps": 30, "sample_prompts": 0 }, "checkpoint": { "every_steps": 30 }, "output_dir": "sft" }
JSON
ft train sft.json >/dev/null 2>&1
ft merge "$base" sft/adapter merged >/dev/null
cp "$base"/tokenizer* "$base"/special_tokens_map.json merged/
cat > grpo.json <<JSON
{ "base_model": "merged", "data": { "path": "shards" }, "objective": "grpo", "method": "lora",
  "lora": { "rank": 16, "alpha": 32, "target_modules": ["all-linear"] },
  "grpo": { "num_generations": 8, "max_new_tokens": 64, "temperature": 0.7, "beta": 0.04,
    "rewards": [ { "type": "json_valid", "weight": 0.5 },
                 { "type": "field_match", "fields": ["category"], "weight": 1.0 },
                 { "type": "field_match", "fields": ["priority"], "weight": 0.5 } ] },
  "optimizer": { "lr": 1e-3 }, "schedule": { "type": "constant", "warmup_steps": 2 },
  "training": { "max_steps": 48, "micro_batch_size": 8 },
  "eval": { "every_steps": 16, "max_examples": 64, "sample_prompts": 0 },
  "checkpoint": { "every_steps": 16, "keep_last": 1 }, "output_dir": "grpo" }
JSON
ft train grpo.json >/dev/null 2>&1
mkdir -p "$root/bench/results"
python3 - "$work/grpo/training_report.json" "$root/bench/results/grpo-demo.json" <<'PY'
import json, statistics, sys
report = json.load(open(sys.argv[1]))
history = report["history"]
blocks = [history[i:i + 8] for i in range(0, len(history), 8)]
summary = {
    "benchmark": "GRPO on the demo task: tiny base + 60-step SFT (merged), LoRA r16, G 8, T 0.7, 48 steps",
    "seconds": round(report["seconds"], 1), "steps": report["steps"],
    "greedy_validation_rewards": [{"step": e["step"], **{k: round(v, 3) for k, v in e["rewards"].items()}}
                                  for e in report["evals"]],
    "sampled_rewards_per_8_steps": [{
        "steps": f'{b[0]["step"]}-{b[-1]["step"]}',
        **{k: round(statistics.mean(h["rollout"][k] for h in b), 3)
           for k in ("reward/json_valid", "reward/field_match_category", "reward/field_match_priority", "kl",
                     "rollout_tokens_per_second")}} for b in blocks],
}
json.dump(summary, open(sys.argv[2], "w"), indent=2)
print(json.dumps(summary["greedy_validation_rewards"]))
PY
