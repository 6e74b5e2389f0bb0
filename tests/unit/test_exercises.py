"""The exercise checks: right answers pass, each common mistake is named, exceptions and hangs are reported."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import mha
from mha import exercises as ex
from mha.exercises import engine

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# ---------------------------------------------------------------- right answers, and the mistakes learners make


def softmax_rows(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(q, k, v, scale=None, dim=-1, kT=False):
    d_k = q.shape[-1]
    scores = q @ (k.T if kT else k.transpose(-2, -1)) / (math.sqrt(d_k) if scale is None else scale(d_k))
    weights = torch.softmax(scores, dim=dim)
    return weights @ v, weights


def masked_attention(q, k, v, mask, fill=float("-inf"), invert=False, after=False):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if after:
        weights = torch.softmax(scores, dim=-1) * mask
    else:
        weights = torch.softmax(scores.masked_fill(mask if invert else ~mask, fill), dim=-1)
    return weights @ v, weights


def split(x, h, mode="ok"):
    B, T, d_model = x.shape
    d_k = d_model // h
    if mode == "no_transpose":
        return x.reshape(B, h, T, d_k)
    if mode == "no_swap":
        return x.reshape(B, T, h, d_k)
    if mode == "interleaved":
        return x.reshape(B, T, d_k, h).permute(0, 3, 1, 2)
    if mode == "T_last":
        return x.reshape(B, T, h, d_k).permute(0, 2, 3, 1)
    return x.reshape(B, T, h, d_k).transpose(1, 2)


def merge(z, mode="ok"):
    B, h, T, d_k = z.shape
    if mode == "no_transpose":
        return z.reshape(B, T, h * d_k)
    if mode == "view":
        return z.transpose(1, 2).view(B, T, h * d_k)
    if mode == "sum":
        return z.sum(1)
    return z.transpose(1, 2).reshape(B, T, h * d_k)


def forward(x, W_q, W_k, W_v, W_o, h, scale="dk_sqrt", w_o="ok", dim=-1, split_mode="ok"):
    q, k, v = (split(x @ W, h, split_mode) for W in (W_q, W_k, W_v))
    d_k = q.shape[-1]
    divisor = {"dk_sqrt": math.sqrt(d_k), "none": 1, "dk": d_k, "dmodel_sqrt": math.sqrt(x.shape[-1])}[scale]
    z = torch.softmax(q @ k.transpose(-2, -1) / divisor, dim=dim) @ v
    concat = merge(z, "no_transpose" if split_mode == "no_transpose" else "ok")
    return {"ok": concat @ W_o, "none": concat, "T": concat @ W_o.T}[w_o]


def shapes(B, T, d_model, h, q_heads=None):
    d_k = d_model // h
    return {
        "q": (B, T, d_model),
        "q_heads": q_heads or (B, h, T, d_k),
        "scores": (B, h, T, T),
        "z_heads": (B, h, T, d_k),
        "concat": (B, T, d_model),
        "out": (B, T, d_model),
    }


def spread(d_k, divide=math.sqrt):
    q, k = torch.randn(20000, d_k), torch.randn(20000, d_k)
    s = (q * k).sum(-1)
    return s.std().item(), (s / divide(d_k)).std().item()


def run_heads(x, heads, how="cat"):
    zs = [head(x)[0] for head in heads]
    return {"cat": torch.cat(zs, -1), "stack": torch.stack(zs, 1), "sum": sum(zs)}[how]


def layer_norm(x, eps=1e-5, dim=-1, unbiased=False):
    mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / torch.sqrt(var + eps)


def role_score(weights, keys):
    b, q = (keys >= 0).nonzero(as_tuple=True)
    return weights[b, :, q, keys[b, q]].mean(0)


def seed_summary(accuracies, baseline, correction=1, ties=False, median=False):
    a = torch.tensor(accuracies, dtype=torch.float64)
    above = (a >= baseline) if ties else (a > baseline)
    return (a.median() if median else a.mean()).item(), a.std(correction=correction).item(), int(above.sum())


def head_terms(z, out_proj, mode="ok"):
    B, h, T, d_k = z.shape
    W = out_proj.weight.detach()
    if mode == "rows":
        return torch.stack([z[:, i] @ W[i * d_k : (i + 1) * d_k] for i in range(h)], 1)
    if mode == "interleaved":
        return torch.stack([z[:, i] @ W[:, i::h].T for i in range(h)], 1)
    terms = torch.stack([z[:, i] @ W[:, i * d_k : (i + 1) * d_k].T for i in range(h)], 1)
    if mode == "whole":
        return terms.sum(1)
    return terms + out_proj.bias.detach() if mode == "bias" else terms


def not_done(*args):
    raise NotImplementedError("Exercise: write your code here")


VALUE_CHECKS = {
    "check_softmax_axis",
    "check_accuracy_by_heads",
    "check_experts_seed_5",
    "check_accuracy_without",
}  # the learner sets a value, not a function

# (check, answer, status, a phrase the feedback must contain)
CASES = [
    (ex.check_softmax, softmax_rows, "passed", "sums to 1"),
    (ex.check_softmax, lambda s: softmax_rows(s.swapaxes(-1, -2)).swapaxes(-1, -2), "wrong", "axis=-1"),
    (ex.check_softmax, lambda s: np.exp(s) / np.exp(s).sum(), "wrong", "whole array"),
    (ex.check_softmax, lambda s: np.exp(s) / np.exp(s).sum(-1), "wrong", "keepdims"),
    (ex.check_softmax, lambda s: np.exp(s) / np.exp(s).sum(-1, keepdims=True), "wrong", "maximum"),
    (ex.check_scaled_attention, attention, "passed", "equals"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v, scale=lambda d: 1), "wrong", "not scaled"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v, scale=lambda d: d), "wrong", "by d_k"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v, dim=-2), "wrong", "dim=-1"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v, kT=True), "error", "k.transpose(-2, -1)"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v)[::-1], "wrong", "swapped"),
    (ex.check_scaled_attention, lambda q, k, v: attention(q, k, v)[0], "wrong", "return out, weights"),
    (ex.check_scaled_attention, lambda q, k, v: None, "wrong", "return"),
    (ex.check_score_spread, spread, "passed", "sqrt(d_k)"),
    (ex.check_score_spread, lambda d: spread(d, divide=lambda d: d), "wrong", "divided by d_k"),
    (ex.check_score_spread, lambda d: (spread(d)[0] ** 2, spread(d)[1]), "wrong", "variance"),
    (ex.check_softmax_axis, -1, "passed", "sum to 1"),
    (ex.check_softmax_axis, 3, "passed", "sum to 1"),
    (ex.check_softmax_axis, -2, "wrong", "queries' axis"),
    (ex.check_softmax_axis, 1, "wrong", "heads"),
    (ex.check_softmax_axis, "last", "wrong", "one int"),
    (ex.check_attention_shapes, shapes, "passed", "every shape"),
    (ex.check_attention_shapes, lambda B, T, d, h: shapes(B, T, d, h, (B, T, h, d // h)), "wrong", "before T"),
    (ex.check_attention_shapes, lambda B, T, d, h: {"q": (B, T, d)}, "wrong", "lacks"),
    (ex.check_split_heads, split, "passed", "slice"),
    (ex.check_split_heads, lambda x, h: split(x, h, "no_transpose"), "wrong", "reshape alone"),
    (ex.check_split_heads, lambda x, h: split(x, h, "no_swap"), "wrong", "head axis must come before T"),
    (ex.check_split_heads, lambda x, h: split(x, h, "interleaved"), "wrong", "interleaved"),
    (ex.check_split_heads, lambda x, h: split(x, h, "T_last"), "wrong", "wrong order"),
    (ex.check_split_heads, lambda x, h: x.reshape(2, 5, h, -1).transpose(1, 2), "error", "x.shape"),
    (ex.check_merge_heads, merge, "passed", "undoes"),
    (ex.check_merge_heads, lambda z: merge(z, "no_transpose"), "wrong", "mixes tokens and heads"),
    (ex.check_merge_heads, lambda z: merge(z, "view"), "error", ".reshape"),
    (ex.check_merge_heads, lambda z: merge(z, "sum"), "wrong", "concatenate"),
    (ex.check_mha_forward, forward, "passed", "MultiHeadAttention"),
    (ex.check_mha_forward, lambda *a: forward(*a, w_o="none"), "wrong", "W_O is missing"),
    (ex.check_mha_forward, lambda *a: forward(*a, w_o="T"), "wrong", "W_O is transposed"),
    (ex.check_mha_forward, lambda *a: forward(*a, scale="none"), "wrong", "not scaled"),
    (ex.check_mha_forward, lambda *a: forward(*a, scale="dk"), "wrong", "divided the scores by d_k"),
    (ex.check_mha_forward, lambda *a: forward(*a, scale="dmodel_sqrt"), "wrong", "sqrt(d_model)"),
    (ex.check_mha_forward, lambda *a: forward(*a, dim=-2), "wrong", "dim=-2"),
    (ex.check_mha_forward, lambda *a: forward(*a, split_mode="no_transpose"), "wrong", "without the transpose"),
    (ex.check_param_count, lambda d, h: 4 * d * d + 4 * d, "passed", "whatever the number of heads"),
    (ex.check_param_count, 4 * 512 * 512 + 4 * 512, "passed", "whatever the number of heads"),
    (ex.check_param_count, lambda d, h: 4 * d * d, "wrong", "biases"),
    (ex.check_param_count, lambda d, h: 3 * d * d + 3 * d, "wrong", "forgot W_O"),
    (ex.check_param_count, lambda d, h: h * (4 * d * d + 4 * d), "wrong", "does not grow with num_heads"),
    (ex.check_param_count, lambda d, h: "many", "wrong", "number"),
    (ex.check_causal_mask, lambda T: torch.ones(T, T, dtype=torch.bool).tril(), "passed", "never the future"),
    (ex.check_causal_mask, lambda T: ~torch.ones(T, T, dtype=torch.bool).tril(), "wrong", "inverted"),
    (ex.check_causal_mask, lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "wrong", "upper triangle"),
    (ex.check_causal_mask, lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "wrong", "diagonal"),
    (ex.check_causal_mask, lambda T: torch.ones(T, T).tril(), "wrong", "dtype=torch.bool"),
    (
        ex.check_causal_mask,
        lambda T: torch.zeros(T, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")),
        "wrong",
        "additive",
    ),
    (ex.check_run_heads, run_heads, "passed", "side by side"),
    (ex.check_run_heads, lambda x, heads: run_heads(x, heads, "stack"), "wrong", "new axis"),
    (ex.check_run_heads, lambda x, heads: run_heads(x, heads, "sum"), "wrong", "added the heads"),
    (ex.check_run_heads, lambda x, heads: torch.cat([h(x)[1] for h in heads], -1), "wrong", "attention weights"),
    (ex.check_run_heads, lambda x, heads: torch.cat([h(x) for h in heads], -1), "error", "z, weights = head(x)"),
    (ex.check_block_param_count, lambda d: 12 * d * d + 13 * d, "passed", "feed-forward"),
    (ex.check_block_param_count, lambda d: 12 * d * d + 9 * d, "wrong", "LayerNorms"),
    (ex.check_block_param_count, lambda d: 6 * d * d + 10 * d, "wrong", "4 * d_model wide"),
    (ex.check_block_param_count, lambda d: 12 * d * d + 4 * d, "wrong", "biases"),
    (ex.check_layer_norm, layer_norm, "passed", "mean 0 and variance 1"),
    (ex.check_layer_norm, lambda x: layer_norm(x, unbiased=True), "wrong", "n - 1"),
    (ex.check_layer_norm, lambda x: layer_norm(x, dim=-2), "wrong", "over the tokens"),
    (ex.check_layer_norm, lambda x: (x - x.mean(-1)) / x.std(-1), "error", "keepdim=True"),
    (ex.check_role_score, role_score, "passed", "One number per head"),
    (ex.check_role_score, lambda w, k: role_score(w.transpose(-1, -2), k), "wrong", "axis 2 is the query"),
    (ex.check_role_score, lambda w, k: role_score(w, k.clamp(min=-1)).mean(), "wrong", "one score per head"),
    (ex.check_role_score, lambda w, k: w[:, :, 0, 0].mean(0), "wrong", "different values"),
    (ex.check_accuracy_by_heads, {1: 0.70, 2: 0.76, 4: 0.89}, "passed", "Two heads"),
    (ex.check_accuracy_by_heads, {1: 0.83, 2: 0.91, 4: 1.0}, "wrong", "training sequences"),
    (ex.check_accuracy_by_heads, {1: 0.70, 2: 0.76}, "wrong", "keys"),
    (ex.check_accuracy_by_heads, [0.70, 0.76], "wrong", "dict"),
    (ex.check_seed_summary, seed_summary, "passed", "sample sd"),
    (ex.check_seed_summary, lambda a, b: seed_summary(a, b, correction=0), "wrong", "population sd"),
    (ex.check_seed_summary, lambda a, b: seed_summary(a, b, ties=True), "wrong", "a tie is not a win"),
    (ex.check_seed_summary, lambda a, b: seed_summary(a, b, median=True), "wrong", "median"),
    (ex.check_experts_seed_5, {"reference": 4, "verb": 3}, "passed", "other experts"),
    (ex.check_experts_seed_5, {"reference": 3, "verb": 2}, "wrong", "from 0"),
    (ex.check_experts_seed_5, {"reference": 3, "verb": 4}, "wrong", "swapped"),
    (ex.check_experts_seed_5, {"reference": 1, "verb": 1}, "wrong", "seed=5"),
    (ex.check_accuracy_without, {1: 0.80, 2: 0.62, 3: 0.48, 4: 0.55}, "passed", "resolver"),
    (ex.check_accuracy_without, {1: 0.12, 2: 0.15, 3: 0.23, 4: 0.11}, "wrong", "ONLY that head"),
    (ex.check_accuracy_without, {0: 0.80, 1: 0.62, 2: 0.48, 3: 0.55}, "wrong", "from 1 to 4"),
    (ex.check_accuracy_without, {1: 0.86, 2: 0.69, 3: 0.54, 4: 0.66}, "wrong", "training sentences"),
    (ex.check_masked_attention, masked_attention, "passed", "zero weight"),
    (ex.check_masked_attention, lambda q, k, v, m: masked_attention(q, k, v, m, fill=0.0), "wrong", "not -inf"),
    (ex.check_masked_attention, lambda q, k, v, m: masked_attention(q, k, v, m, invert=True), "wrong", "inverted"),
    (ex.check_masked_attention, lambda q, k, v, m: masked_attention(q, k, v, m, after=True), "wrong", "sum to 1"),
    (ex.check_masked_attention, lambda q, k, v, m: attention(q, k, v), "wrong", "ignored"),
    (ex.check_head_terms, head_terms, "passed", "sum of one term per head"),
    (ex.check_head_terms, lambda z, p: head_terms(z, p, "rows"), "wrong", "COLUMNS"),
    (ex.check_head_terms, lambda z, p: head_terms(z, p, "interleaved"), "wrong", "every h-th column"),
    (ex.check_head_terms, lambda z, p: head_terms(z, p, "bias"), "wrong", "bias is added once"),
    (ex.check_head_terms, lambda z, p: head_terms(z, p, "whole"), "wrong", "whole layer's output"),
    (ex.check_head_terms, lambda z, p: head_terms(z, p).flip(1), "wrong", "reverse order"),
]


@pytest.mark.parametrize("check, answer, status, phrase", CASES)
def test_check_names_the_mistake(check, answer, status, phrase, capsys):
    result = check(answer)
    assert result.status == status, result.feedback
    assert phrase in result.feedback
    assert result.passed == (status == "passed")
    assert result.points == (result.max_points if result.passed else 0)
    assert capsys.readouterr().out.strip() == result.line()


def test_package_functions_pass_their_own_checks(capsys):
    assert ex.check_split_heads(mha.split_heads).passed
    assert ex.check_merge_heads(mha.merge_heads).passed
    assert ex.check_causal_mask(mha.causal_mask).passed
    assert ex.check_scaled_attention(mha.scaled_dot_product_attention).passed
    assert ex.check_masked_attention(mha.scaled_dot_product_attention).passed
    assert ex.check_param_count(lambda d, h: mha.count_parameters(mha.MultiHeadAttention(d, h))).passed


@pytest.mark.parametrize("exercise", ex.EXERCISES.values(), ids=list(ex.EXERCISES))
def test_every_check_says_not_done_for_a_stub(exercise, capsys):
    result = exercise.check(...)  # a value still `...`
    assert (result.status, result.points) == ("not done", 0)
    assert "not done yet" in capsys.readouterr().out and exercise.id in result.line()
    if exercise.check.__name__ not in VALUE_CHECKS:  # a function still raising NotImplementedError
        result = exercise.check(not_done)
        assert (result.status, result.points) == ("not done", 0)
        assert "not done yet" in capsys.readouterr().out


def test_exceptions_are_reported_not_raised(capsys):
    def broken(x, num_heads):
        raise ValueError("boom")

    result = ex.check_split_heads(broken)
    assert result.status == "error" and "ValueError: boom" in result.feedback
    result = ex.check_split_heads(lambda x, num_heads: undefined_name)  # noqa: F821
    assert result.status == "error" and "NameError" in result.feedback
    result = ex.check_causal_mask(lambda T: exit(1))
    assert result.status == "error" and "SystemExit" in result.feedback
    result = ex.check_split_heads(mha.split_heads(torch.zeros(1, 2, 4), 2))  # called the function, passed the value
    assert result.status == "wrong" and "pass the function itself" in result.feedback


def test_hangs_are_stopped(monkeypatch, capsys):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.5)

    def forever(x, num_heads):
        while True:
            pass

    def swallows_exceptions(x, num_heads):  # `except Exception` does not catch the check's timeout
        while True:
            try:
                sum(range(10**5))
            except Exception:
                pass

    for fn in (forever, swallows_exceptions):
        result = ex.check_split_heads(fn)
        assert result.status == "timeout" and "infinite loop" in result.feedback


def test_timeout_outside_the_main_thread(monkeypatch):
    import threading

    monkeypatch.setattr(engine, "TIME_LIMIT", 0.5)
    box, stop = {}, threading.Event()

    def forever(T):
        while not stop.is_set():  # a watcher thread cannot kill it: stop it when the test is done
            pass

    worker = threading.Thread(target=lambda: box.setdefault("r", ex.check_causal_mask(forever)))
    worker.start()
    worker.join(10)
    stop.set()
    assert box["r"].status == "timeout"


def test_results_file_for_the_grader(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv(ex.RESULTS_ENV, str(path))
    ex.check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).tril())
    ex.final_check({"masked_attention": masked_attention, "mha_forward": 3}, "05")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["exercise"], r["status"], r["source"]) for r in records] == [
        ("05.2", "passed", "cell"),
        ("05.1", "wrong", "final"),
        ("05.2", "missing", "final"),
        ("05.3", "passed", "final"),
    ]


def test_registry_is_consistent():
    for e in ex.EXERCISES.values():
        assert getattr(ex, e.check.__name__) is e.check  # the notebooks call mha.exercises.check_...
        assert e.points >= 1 and e.name.isidentifier() and e.hint
    assert [e.id for e in ex.exercises_for(4)] == ["04.1", "04.2", "04.3", "04.4"]
    assert list(ex.EXERCISES) == sorted(ex.EXERCISES)  # the course's order


def test_register_refuses_a_taken_id_and_a_check_by_name():
    taken = ex.EXERCISES["04.2"]
    ex.register([taken])  # the same record again changes nothing
    assert ex.EXERCISES["04.2"] is taken and len(ex.exercises_for(4)) == 4
    with pytest.raises(ValueError, match="taken"):
        ex.register([ex.Exercise("04.2", "Another", "other", ex.check_softmax)])
    with pytest.raises(ValueError, match="check function itself"):
        ex.register([ex.Exercise("99.1", "By name", "other", "check_softmax")])
    with pytest.raises(ValueError, match="NN.k"):
        ex.register([ex.Exercise("4.5", "A bad id", "other", ex.check_softmax)])
    assert "99.1" not in ex.EXERCISES and "4.5" not in ex.EXERCISES


def test_the_hint_is_the_end_of_the_checks_docstring():
    assert ex.EXERCISES["08.2"].hint == "compare torch.arange(T) with the lengths: True where position < length"

    def check_without_hint(fn):
        """Exercise 99.1: a check whose docstring gives the stub nothing to say."""

    with pytest.raises(ValueError, match="end the docstring of check_without_hint with 'Hint: ...'"):
        ex.register([ex.Exercise("99.1", "No hint", "other", check_without_hint)])
    assert "99.1" not in ex.EXERCISES


def test_every_check_lives_in_the_module_of_its_notebook():
    modules = {m.__name__.split(".")[-1][2:4]: m for m in ex.NOTEBOOK_MODULES}
    assert len(modules) == len(ex.NOTEBOOK_MODULES) and list(modules) == sorted(modules)
    for e in ex.EXERCISES.values():
        module = modules[e.notebook]
        assert e.check.__module__ == module.__name__, f"{e.id}: {e.check.__name__} is in {e.check.__module__}"
        assert e in module.EXERCISES
    assert sum(len(m.EXERCISES) for m in ex.NOTEBOOK_MODULES) == len(ex.EXERCISES)


def test_every_check_call_in_the_notebooks_is_a_registered_exercise():
    import nbformat

    call = re.compile(r"\bmha\.exercises\.(\w+)\((\w+)\)")
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert paths
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        calls = [m.groups() for c in nb.cells if c.cell_type == "code" for m in call.finditer(c.source)]
        expected = [(e.check.__name__, e.name) for e in ex.exercises_for(path.name[:2])]
        assert calls == expected, path.name  # each exercise checked once, in order, on the name it asks for


def test_exercises_import_no_screen_packages():
    import subprocess
    import sys

    code = "import sys, mha.exercises; print('plotly' in sys.modules or 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
