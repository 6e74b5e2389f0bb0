"""mha.benchmark on tiny shapes: the variants agree, the table has its structure. No assertion on timing."""

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mha import benchmark
from mha.attention import attention_flops

SHAPE = (2, 8, 16, 4)  # (B, T, d_model, num_heads)


def test_variants_compute_the_same_output():
    fns, _ = benchmark.build_variants(*SHAPE)
    with torch.no_grad():
        outs = {name: fn() for name, fn in fns.items()}
    for name in ("loop", "mha", "mha_fused"):
        torch.testing.assert_close(outs[name], outs["torch"], atol=1e-5, rtol=1e-5)
    assert outs["sdpa"].shape == (2, 4, 8, 4)  # attention alone: (B, h, T, d_k)


def test_run_benchmark_rows_and_table():
    rows = benchmark.run_benchmark([SHAPE], repeats=1, warmup=0)
    assert len(rows) == 2 * len(benchmark.VARIANTS)
    keys = {"device", "dtype", "B", "T", "d_model", "heads", "pass", "variant", "ms", "ratio", "tflops"}
    for r in rows:
        assert set(r) == keys
        assert r["ms"] > 0 and r["tflops"] > 0 and r["dtype"] == "float32" and r["device"] == "cpu"
    assert {r["pass"] for r in rows} == {"fwd", "fwd+bwd"}
    assert all(r["ratio"] == 1.0 for r in rows if r["variant"] == benchmark.REFERENCE)
    table = benchmark.format_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("cpu float32  (B, T, d_model, h) = (2, 8, 16, 4)  fwd")
    assert lines[1].split()[:4] == ["variant", "ms", "x", "torch"]
    assert sum(line.startswith("loop ") for line in lines) == 2
    assert len(lines) == 2 * (2 + len(benchmark.VARIANTS)) + 1  # two blocks and a blank line between


def test_run_benchmark_without_the_reference_has_no_ratio():
    rows = benchmark.run_benchmark([SHAPE], passes=("fwd",), variants=["mha"], repeats=1, warmup=0)
    assert len(rows) == 1 and rows[0]["ratio"] is None
    assert " - " in benchmark.format_table(rows)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown variants"):
        benchmark.run_benchmark([SHAPE], variants=["fast"])
    with pytest.raises(ValueError, match="passes must be"):
        benchmark.run_benchmark([SHAPE], passes=("bwd",), repeats=1, warmup=0)
    with pytest.raises(ValueError, match="repeats must be"):
        benchmark.time_calls({"f": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="statistic must be one of"):
        benchmark.time_calls({"f": lambda: None}, statistic="mean")


def test_minimum_is_never_above_the_median():
    calls = iter([0.0, 0.02, 0.0, 0.0])
    import time as _time

    def sleepy():
        _time.sleep(next(calls))

    fastest = benchmark.time_calls({"f": sleepy}, repeats=3, warmup=1, statistic="min")["f"]
    assert fastest < 0.015  # the one slow run does not count
    rows = benchmark.run_benchmark([SHAPE], passes=("fwd",), variants=["mha"], repeats=2, warmup=0, statistic="min")
    assert rows[0]["ms"] > 0


def test_attention_flops_matches_pytorchs_count():
    B, T, d_model, h = SHAPE
    fns, _ = benchmark.build_variants(*SHAPE)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fns["mha"]()
    assert counter.get_total_flops() == attention_flops(B, T, d_model, h)["total"]
    f = attention_flops(1, 2 * d_model, d_model, h)
    assert f["projections"] == f["attention"]  # the T^2 part catches up at T = 2 d_model


def test_count_matmuls_loop_grows_with_heads_batched_does_not():
    for h in (1, 4):
        fns, _ = benchmark.build_variants(1, 4, 8, h)
        with torch.no_grad():
            assert benchmark.count_matmuls(fns["loop"]) == 5 * h + 1
            assert benchmark.count_matmuls(fns["mha"]) == 4


def test_matmul_tflops_is_positive():
    assert benchmark.matmul_tflops(n=32, repeats=1) > 0


def test_cli_sweep_table_and_check(capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/
    from benchmarks import bench_attention

    rows = benchmark.run_benchmark([(1, T, 8, 2) for T in (4, 8)], passes=("fwd",), repeats=1, warmup=0)
    lines = bench_attention.sweep_table(rows).splitlines()
    assert lines[0].split() == ["T", *benchmark.VARIANTS, "fused/torch"]
    assert [line.split()[0] for line in lines[1:]] == ["4", "8"]
    assert bench_attention.check("ratio", 0.9, 1.0, at_most=True)
    assert not bench_attention.check("rate", 0.4, 0.5, at_most=False)
    assert capsys.readouterr().out.splitlines() == ["PASS  ratio: 0.90 (<= 1.00)", "FAIL  rate: 0.40 (>= 0.50)"]
