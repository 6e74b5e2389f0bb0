"""Time the attention variants and check the course's performance targets.

    python -m benchmarks.bench_attention            # the full run (minutes on a laptop CPU)
    python -m benchmarks.bench_attention --quick    # a small run (seconds)
    python -m benchmarks.bench_attention --device cuda

Variants (see ``mha.benchmark.VARIANTS``): a loop of h ``mha.SelfAttention`` heads plus W_O,
``mha.MultiHeadAttention`` with need_weights=True and False, ``torch.nn.MultiheadAttention`` (need_weights=False)
and ``F.scaled_dot_product_attention`` alone on already projected q, k, v. Times are medians of repeats after a
warm-up, and every ratio divides two times measured in the same run, variant by variant in turn.

Targets, printed as PASS or FAIL:
  1. mha need_weights=False, forward + backward, takes at most 1.0x the time of torch.nn.MultiheadAttention
     (same shape, same run), on the CPU and on CUDA (each dtype).
  2. On CUDA, bf16 at (B, T, d_model, h) = (4, 4096, 1024, 16): mha's forward reaches at least 50% of the
     bf16 matrix-product rate measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import subprocess
import sys

import torch

import mha
from mha import benchmark

MAIN_SHAPE = (8, 1024, 768, 12)  # (B, T, d_model, num_heads): GPT-2 small's width and heads
PEAK_SHAPE = (4, 4096, 1024, 16)  # the CUDA bf16 target
QUICK_SHAPE = (2, 256, 256, 8)


def import_seconds(module: str, runs: int = 3) -> float:
    """The median time to import ``module`` in a fresh Python interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    run = [sys.executable, "-c", code]
    times = [float(subprocess.run(run, capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def sweep_table(rows: list[dict]) -> str:
    """One line per T: each variant's median ms, and mha_fused / torch."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    lines = [f"{'T':>6} " + " ".join(f"{v:>10}" for v in variants) + f" {'fused/torch':>12}"]
    for T in sorted({r["T"] for r in rows}):
        ms = {r["variant"]: r for r in rows if r["T"] == T}
        ratio = ms["mha_fused"]["ratio"] if "mha_fused" in ms and ms["mha_fused"]["ratio"] is not None else None
        cells = " ".join(f"{ms[v]['ms']:>10.2f}" for v in variants)
        lines.append(f"{T:>6} {cells} {'-' if ratio is None else f'{ratio:.2f}':>12}")
    return "\n".join(lines)


def check(label: str, value: float, limit: float, at_most: bool) -> bool:
    ok = value <= limit if at_most else value >= limit
    sign = "<=" if at_most else ">="
    print(f"{'PASS' if ok else 'FAIL'}  {label}: {value:.2f} ({sign} {limit:.2f})")
    return ok


def fused_ratio(rows: list[dict], pass_: str) -> float:
    return next(r["ratio"] for r in rows if r["variant"] == "mha_fused" and r["pass"] == pass_)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"a small run: shape {QUICK_SHAPE}, short sweep")
    parser.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (mha.get_device(); default)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per variant (default 3, CUDA 10)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep over the sequence length T")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = mha.get_device() if args.device == "auto" else torch.device(args.device)
    cuda = device.type == "cuda"
    repeats = args.repeats or (10 if cuda else 3)
    dtypes = [torch.float32, torch.bfloat16] if cuda else [torch.float32]
    shape = QUICK_SHAPE if args.quick else MAIN_SHAPE
    B, _, d_model, h = shape
    if args.quick:
        sweep_T = (64, 128, 256, 512)
        sweep_B = 1
    else:
        sweep_T = (256, 512, 1024, 2048, 4096) if cuda else (128, 256, 512, 1024, 2048)
        sweep_B = B if cuda else 1

    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine()
    print(f"# attention benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"python {platform.python_version()}, torch {torch.__version__}, mha {mha.__version__}")
    print(f"device {device} ({name}), torch threads {torch.get_num_threads()}, repeats {repeats} (median)")
    print(
        f"import time (fresh interpreter, median of 3): torch {import_seconds('torch'):.2f} s, "
        f"mha {import_seconds('mha'):.2f} s"
    )

    passed = []
    for dtype in dtypes:
        print(f"\n## {str(dtype).replace('torch.', '')}, (B, T, d_model, h) = {shape}\n")
        rows = benchmark.run_benchmark([shape], device, dtype, repeats=repeats)
        print(benchmark.format_table(rows))
        passed.append(
            check(f"{device.type} {dtype}: mha fused fwd+bwd / torch MHA", fused_ratio(rows, "fwd+bwd"), 1.0, True)
        )
        if args.no_sweep:
            continue
        for pass_ in ("fwd", "fwd+bwd"):
            print(f"\n### sweep over T, (B, d_model, h) = ({sweep_B}, {d_model}, {h}), {pass_}, median ms\n")
            sweep = benchmark.run_benchmark(
                [(sweep_B, T, d_model, h) for T in sweep_T], device, dtype, passes=(pass_,), repeats=repeats
            )
            print(sweep_table(sweep))

    if cuda:
        peak_shape = QUICK_SHAPE if args.quick else PEAK_SHAPE
        print(f"\n## bf16 forward at {peak_shape} against the bf16 matrix-product rate\n")
        rate = benchmark.matmul_tflops(8192, device, torch.bfloat16, repeats=repeats)
        rows = benchmark.run_benchmark(
            [peak_shape], device, torch.bfloat16, passes=("fwd",), variants=["mha_fused", "torch"], repeats=repeats
        )
        print(benchmark.format_table(rows))
        fused = next(r["tflops"] for r in rows if r["variant"] == "mha_fused")
        print(f"\nbf16 matmul (8192 x 8192): {rate:.1f} TFLOP/s; mha fused forward: {fused:.1f} TFLOP/s")
        passed.append(check("cuda bf16: mha fused forward / matmul rate", fused / rate, 0.5, False))
    else:
        rate = benchmark.matmul_tflops(2048, device, dtypes[0], repeats=repeats)
        print(f"\nfor scale: a (2048 x 2048) float32 matrix product runs at {rate * 1e3:.1f} GFLOP/s here")
        print("(the CUDA-only target, bf16 forward >= 50% of the matmul rate, is not checked without CUDA)")

    print(f"\n{sum(passed)} of {len(passed)} targets passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
