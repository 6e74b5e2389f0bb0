"""Timing of the attention variants: a loop of heads, the batched module, and PyTorch's own.

Used by ``python -m benchmarks.bench_attention`` (the full table) and by notebook 4 (a small run on the
reader's device). Every time is the median of several runs after a warm-up. The variants are timed in
turn inside each repeat (not one after the other), so a busy, shared machine slows them all alike and
the ratios measured in one run stay fair.

Shapes use the letters of ``mha.attention``: B batch, T sequence length, h heads, d_model the width.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from mha.attention import HeadPanel, MultiHeadAttention, attention_flops, split_heads

__all__ = [
    "VARIANTS",
    "REFERENCE",
    "build_variants",
    "count_matmuls",
    "format_table",
    "matmul_tflops",
    "run_benchmark",
    "time_calls",
]

# name -> what it is; the order of the table
VARIANTS = {
    "loop": "mha.HeadPanel: h x mha.SelfAttention + W_O",
    "mha": "mha.MultiHeadAttention(need_weights=True)",
    "mha_fused": "mha.MultiHeadAttention(need_weights=False)",
    "torch": "torch.nn.MultiheadAttention(need_weights=False)",
    "sdpa": "F.scaled_dot_product_attention only",
}
REFERENCE = "torch"  # the ratios divide by this variant's time


def build_variants(B: int, T: int, d_model: int, num_heads: int, device="cpu", dtype=torch.float32, seed: int = 0):
    """One function per variant, each computing attention over the same input with the same weights.

    Returns ({name: fn}, tensors): ``fn()`` runs one forward pass and returns the output;
    ``tensors`` are the leaves (input and weights) whose gradients a backward pass fills.
    The "sdpa" variant starts from already projected q, k, v (B, h, T, d_k): attention alone, no projections.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, d_model, generator=g).to(device, dtype)  # drawn on the CPU, then moved
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d_model, num_heads, batch_first=True).to(device, dtype)
    ours = MultiHeadAttention.from_torch(ref)
    panel = HeadPanel.from_multihead(ours)  # the same weights, as h separate heads and W_O
    with torch.no_grad():
        q, k, v = (split_heads(t, num_heads).contiguous() for t in ours.qkv(x).split(d_model, dim=-1))
    x.requires_grad_(True)
    for t in (q, k, v):
        t.requires_grad_(True)

    fns = {
        "loop": lambda: panel(x)[0],
        "mha": lambda: ours(x)[0],
        "mha_fused": lambda: ours(x, need_weights=False)[0],
        "torch": lambda: ref(x, x, x, need_weights=False)[0],
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
    }
    tensors = [x, q, k, v, *ref.parameters(), *ours.parameters(), *panel.parameters()]
    return fns, tensors


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


STATISTICS = {"median": statistics.median, "min": min}


def time_calls(
    fns: dict, repeats: int = 5, warmup: int = 1, device="cpu", statistic: str = "median"
) -> dict[str, float]:
    """The median (or the minimum) wall time in seconds of each ``fn()`` in ``fns``, timed in turn inside every repeat.

    statistic="min" reports the fastest run: other programs on a shared machine can only make a call slower, so on a
    busy machine the minimum is the steadiest estimate of what the code itself costs.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: STATISTICS[statistic](ts) for name, ts in times.items()}


def _with_backward(fn, tensors):
    def step():
        for t in tensors:
            t.grad = None
        fn().float().sum().backward()

    return step


def run_benchmark(
    shapes,
    device="cpu",
    dtype=torch.float32,
    passes=("fwd", "fwd+bwd"),
    variants=None,
    repeats: int = 5,
    warmup: int = 1,
    statistic: str = "median",
) -> list[dict]:
    """Time every variant on every (B, T, d_model, num_heads) in ``shapes``; one row per measurement.

    Each row: device, dtype, B, T, d_model, heads, pass ("fwd" or "fwd+bwd"), variant, ms (the median, or with
    statistic="min" the fastest, of ``repeats`` timed runs),
    ratio (time / the time of ``REFERENCE`` in the same shape and pass, None if it was not timed)
    and tflops (forward FLOPs of ``attention_flops`` per second; fwd+bwd counts 3x the forward).
    """
    variants = list(VARIANTS) if variants is None else list(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    rows = []
    for B, T, d_model, num_heads in shapes:
        fns, tensors = build_variants(B, T, d_model, num_heads, device, dtype)
        fns = {name: fns[name] for name in variants}
        flops = attention_flops(B, T, d_model, num_heads)["total"]
        if "sdpa" in fns:  # attention alone: no projections
            sdpa_flops = attention_flops(B, T, d_model, num_heads)["attention"]
        for pass_ in passes:
            if pass_ == "fwd":
                with torch.no_grad():
                    seconds = time_calls(fns, repeats, warmup, device, statistic)
                factor = 1
            elif pass_ == "fwd+bwd":
                steps = {name: _with_backward(fn, tensors) for name, fn in fns.items()}
                seconds = time_calls(steps, repeats, warmup, device, statistic)
                factor = 3  # the backward pass costs about twice the forward
            else:
                raise ValueError(f"passes must be 'fwd' or 'fwd+bwd', got {pass_!r}")
            for name, s in seconds.items():
                work = (sdpa_flops if name == "sdpa" else flops) * factor
                rows.append(
                    dict(
                        device=str(torch.device(device)),
                        dtype=str(dtype).replace("torch.", ""),
                        B=B,
                        T=T,
                        d_model=d_model,
                        heads=num_heads,
                        variant=name,
                        ms=s * 1e3,
                        ratio=s / seconds[REFERENCE] if REFERENCE in seconds else None,
                        tflops=work / s / 1e12,
                        **{"pass": pass_},
                    )
                )
        del fns, tensors
    return rows


def matmul_tflops(n: int = 4096, device="cpu", dtype=torch.float32, repeats: int = 5) -> float:
    """The measured rate of one (n, n) @ (n, n) matrix product, in TFLOP/s: the device's practical peak."""
    a, b = (torch.randn(n, n).to(device, dtype) for _ in range(2))
    seconds = time_calls({"mm": lambda: a @ b}, repeats=repeats, warmup=2, device=device)["mm"]
    return 2 * n**3 / seconds / 1e12


class _CountMatmuls(TorchFunctionMode):
    """Counts the matrix products ``fn`` asks PyTorch for (nested calls inside them are not seen)."""

    NAMES = {"linear", "matmul", "__matmul__", "mm", "bmm", "addmm", "baddbmm", "einsum"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, "__name__", "") in self.NAMES
        return func(*args, **(kwargs or {}))


def count_matmuls(fn) -> int:
    """How many matrix products (linear layers, ``@``, ``bmm`` ...) one call of ``fn()`` asks PyTorch for.

    The loop of h heads asks for 5 per head plus W_O; the batched module asks for 4 in all, whatever h is.
    The fused path hands the two attention products to one ``scaled_dot_product_attention`` call.
    """
    with _CountMatmuls() as counter:
        fn()
    return counter.count


def format_table(rows: list[dict]) -> str:
    """The rows of ``run_benchmark`` as a plain-text table, one block per device, dtype, shape and pass."""
    header = f"{'variant':<10} {'ms':>10} {'x torch':>8} {'TFLOP/s':>8}  what"
    lines = []
    key = None
    for r in rows:
        block = (r["device"], r["dtype"], r["B"], r["T"], r["d_model"], r["heads"], r["pass"])
        if block != key:
            key = block
            lines += ["", f"{r['device']} {r['dtype']}  (B, T, d_model, h) = {block[2:6]}  {r['pass']}", header]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['variant']:<10} {r['ms']:>10.2f} {ratio:>8} {r['tflops']:>8.3f}  {VARIANTS[r['variant']]}")
    return "\n".join(lines[1:])
