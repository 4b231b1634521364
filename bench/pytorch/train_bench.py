# The PyTorch side of bench/FineTune.TrainBench: the same Llama — stories15M shape (untied head), batch 8 x 256, or
# the 110M shape (dim 768, hidden 2048, 12 layers, 12 heads, tied head), batch 4 x 512 — AdamW, full fine-tuning or
# LoRA r=8 on q,v, in plain PyTorch (Debian's python3-torch), float32 or under bf16 autocast (torch.autocast("cpu",
# torch.bfloat16): matmuls in bf16, weights and optimizer in float32). Prints one JSON line.
# Run: python3 bench/pytorch/train_bench.py --method full|lora [--precision float32|bf16] [--shape 15M|110M]
#      --threads 2 [--steps 6] [--warmup 2]
import argparse, json, math, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--method", default="full")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--steps", type=int, default=6)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--precision", default="float32", choices=["float32", "bf16"])
p.add_argument("--shape", default="15M", choices=["15M", "110M"])
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
if a.shape == "15M":
    D, H, L, HEADS, V, B, T, TIED = 288, 768, 6, 6, 32000, 8, 256, False
else:
    D, H, L, HEADS, V, B, T, TIED = 768, 2048, 12, 12, 32000, 4, 512, True


class LoraLinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.A = nn.Linear(base.in_features, r, bias=False)
        self.B = nn.Linear(r, base.out_features, bias=False)
        nn.init.zeros_(self.B.weight)
        self.s = alpha / r

    def forward(self, x):
        return self.base(x) + self.B(self.A(x)) * self.s


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rope(x, cos, sin):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.g, self.u, self.d = nn.Linear(D, H, bias=False), nn.Linear(D, H, bias=False), nn.Linear(H, D, bias=False)
        self.causal = torch.full((T, T), float("-inf")).triu(1)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.n1(x)
        q, k, v = (m(h).view(b, t, HEADS, D // HEADS).transpose(1, 2) for m in (self.q, self.k, self.v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if hasattr(F, "scaled_dot_product_attention"):   # torch >= 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:                                            # Debian's 1.13: the explicit softmax(q kᵀ/√d + causal) v
            s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]) + self.causal[:t, :t]
            y = torch.softmax(s, -1) @ v
        x = x + self.o(y.transpose(1, 2).reshape(b, t, D))
        h = self.n2(x)
        return x + self.d(F.silu(self.g(h)) * self.u(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)
        if TIED:
            self.head.weight = self.emb.weight
        inv = 1.0 / (10000 ** (torch.arange(0, D // HEADS, 2).float() / (D // HEADS)))
        ang = torch.arange(T).float()[:, None] * inv[None]
        self.cos, self.sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def forward(self, ids):
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin)
        return self.head(self.norm(x))


model = Llama()
if a.method == "lora":
    for prm in model.parameters():
        prm.requires_grad_(False)
    for blk in model.blocks:
        blk.q, blk.v = LoraLinear(blk.q), LoraLinear(blk.v)
trainable = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(trainable, lr=1e-4, weight_decay=0.0)
ids = torch.randint(0, V, (B, T + 1))
times = []
for step in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.float().reshape(-1, V), ids[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    opt.step()
    if step >= a.warmup:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({
    "implementation": f"pytorch {torch.__version__}", "method": a.method, "precision": a.precision,
    "shape": a.shape, "batch": f"{B} x {T}", "threads": a.threads,
    "tokens_per_second_median": B * T / times[len(times) // 2], "tokens_per_second_max": B * T / times[0],
    "tokens_per_second_min": B * T / times[-1],
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "trainable_parameters": sum(q.numel() for q in trainable),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
