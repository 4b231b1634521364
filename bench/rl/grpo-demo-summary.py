"""Summarises bench/rl/grpo-demo.sh: per seed, the held-out task metrics of the SFT model and of SFT + GRPO (with the
task suite's 95% intervals), the answers whose category turned right or wrong (a paired count: same prompts), an
exact two-sided sign test on those flips, and GRPO's training numbers (KL, rewards, time).
Usage: grpo-demo-summary.py WORK_DIR OUT_JSON SEED..."""
import json
import math
import os
import statistics
import sys

work, out, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
FIELDS = ("json_valid", "category_accuracy", "priority_accuracy")


def metrics(path):
    suite = json.load(open(path))["suites"][0]
    return {m["name"].removeprefix("task/"): m for m in suite["metrics"]}


def field(text, name):
    try:
        value = json.loads(text)
        return str(value.get(name, "")).strip().lower() if isinstance(value, dict) else None
    except (json.JSONDecodeError, TypeError):
        return None


def right(path, name):
    rows = [json.loads(line)["Value"] for line in open(path)]
    rows.sort(key=lambda v: v["Line"])
    return [field(v["Prediction"], name) == field(v["Reference"], name) for v in rows]


def sign_test(up, down):
    """Two-sided exact binomial test of up vs down flips (p = 0.5)."""
    n = up + down
    if n == 0:
        return 1.0
    k = min(up, down)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


runs = []
for seed in seeds:
    d = f"{work}/seed-{seed}"
    before, after = metrics(f"{d}/sft-heldout.json"), metrics(f"{d}/grpo-heldout.json")
    report = json.load(open(f"{d}/grpo/training_report.json"))
    flips = {}
    for name in ("category", "priority"):
        a, b = right(f"{d}/sft-heldout.items.jsonl", name), right(f"{d}/grpo-heldout.items.jsonl", name)
        up = sum(1 for x, y in zip(a, b) if y and not x)
        down = sum(1 for x, y in zip(a, b) if x and not y)
        flips[name] = {"turned_right": up, "turned_wrong": down, "sign_test_p": round(sign_test(up, down), 4)}
    steps = report["history"]
    runs.append({
        "seed": int(seed),
        "heldout_items": before["category_accuracy"]["count"],
        "sft": {f: {"value": round(before[f]["value"], 3),
                    "ci95": [round(before[f]["low"], 3), round(before[f]["high"], 3)]} for f in FIELDS},
        "sft_grpo": {f: {"value": round(after[f]["value"], 3),
                         "ci95": [round(after[f]["low"], 3), round(after[f]["high"], 3)]} for f in FIELDS},
        "flips": flips,
        "grpo_seconds": round(report["seconds"], 1),
        "grpo_steps": report["steps"],
        # the delivered adapter is the best validated step's (greedy reward on 64 validation prompts); 0: no step beat
        # the SFT model, so the adapter changes nothing
        "grpo_best_step": report.get("best_step"),
        "kl_max": round(max(h["rollout"]["kl"] for h in steps), 3),
        "kl_last8": round(statistics.mean(h["rollout"]["kl"] for h in steps[-8:]), 3),
        # the answers GRPO sampled (temperature 0.7) to training prompts: mean of the first and the last 8 steps
        "sampled_first8_last8": {k: [round(statistics.mean(h["rollout"][k] for h in steps[:8]), 3),
                                     round(statistics.mean(h["rollout"][k] for h in steps[-8:]), 3)]
                                 for k in ("reward", "reward/json_valid", "reward/field_match_category",
                                           "reward/field_match_priority")},
    })

summary = {
    "benchmark": f"GRPO on the demo task, per seed: tiny base + {os.environ.get('SFT_STEPS', '60')}-step SFT "
                 "(merged), then LoRA r16 GRPO, G 8, T 0.7, "
                 "beta 0.04, rewards json_valid 0.5 + category 1.0 + priority 0.5; greedy answers to the 200 held-out "
                 "tickets (products unseen in training) scored by the task suite, before and after GRPO",
    "runs": runs,
    "mean_change": {f: round(statistics.mean(r["sft_grpo"][f]["value"] - r["sft"][f]["value"] for r in runs), 3)
                    for f in FIELDS},
    "seeds_where_category_rose": sum(r["sft_grpo"]["category_accuracy"]["value"]
                                     > r["sft"]["category_accuracy"]["value"] for r in runs),
}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps({"mean_change": summary["mean_change"],
                  "per_seed": [(r["seed"], r["sft"]["category_accuracy"]["value"],
                                r["sft_grpo"]["category_accuracy"]["value"], r["flips"]["category"]) for r in runs]}))
