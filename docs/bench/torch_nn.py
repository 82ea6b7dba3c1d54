"""PyTorch reference timings for docs/PERFORMANCE.md ("Neural networks").

Times one training step (forward, backward, AdamW update) of the same networks as
`optlab train <preset> --bench N`: the MNIST MLP 784-512-512-10 at batch 128 and the
Shakespeare GPT (4 layers, 4 heads, width 128, context 64, batch 12, vocabulary 73), in float32
on the CPU, with random data of the right shapes.

    python3 docs/bench/torch_nn.py [STEPS]
"""

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=73, d=128, layers=4, heads=4, context=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x) @ self.tok.weight.T  # tied head


def time_steps(model, make_batch, steps, **adamw):
    opt = torch.optim.AdamW(model.parameters(), **adamw)
    x, y = make_batch()

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) * 1e3 / steps


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    ms = time_steps(mlp, lambda: (torch.randn(128, 784), torch.randint(0, 10, (128,))), steps, lr=1e-3, weight_decay=0.05)
    print(f"mnist-mlp: {ms:.2f} ms/step over {steps} steps")
    gpt = Gpt()
    ms = time_steps(gpt, lambda: (torch.randint(0, 73, (12, 64)), torch.randint(0, 73, (12, 64))), steps, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    print(f"shakespeare-gpt: {ms:.2f} ms/step over {steps} steps")


if __name__ == "__main__":
    main()
