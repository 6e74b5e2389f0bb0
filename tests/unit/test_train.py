"""mha.train: the tiny model, the seeded training loop, evaluation and per-head role scores."""

import pytest
import torch

import mha
from mha import data
from mha.models import TinyAttentionModel, copy_head_to_all
from mha.train import evaluate, head_role_scores, train


def test_model_shapes_and_attention_rows():
    model = TinyAttentionModel(vocab_size=7, d_model=8, num_heads=2, max_len=5, num_classes=11)
    ids = torch.randint(7, (3, 5))
    logits, weights = model(ids)
    assert logits.shape == (3, 5, 11) and weights.shape == (3, 2, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 5))
    assert isinstance(model.attn, mha.MultiHeadAttention)


def test_model_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        TinyAttentionModel(10, 10, 3, 5)
    with pytest.raises(ValueError, match="positive"):
        TinyAttentionModel(10, 8, 0, 5)
    model = TinyAttentionModel(10, 8, 2, 5)
    with pytest.raises(ValueError, match="max_len=5"):
        model(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="torch.long"):
        model(torch.zeros(1, 4))


def test_training_is_reproducible(task):
    a = train(task, num_heads=2, d_model=8, steps=15, seed=3)
    b = train(task, num_heads=2, d_model=8, steps=15, seed=3)
    c = train(task, num_heads=2, d_model=8, steps=15, seed=4)
    assert a.losses == b.losses and a.accuracies == b.accuracies
    assert a.losses != c.losses
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_training_restores_thread_count(task):
    threads = torch.get_num_threads()
    result = train(task, num_heads=1, d_model=8, steps=2)
    assert torch.get_num_threads() == threads
    evaluate(result, task)  # evaluation runs on one thread too, and gives the count back
    assert torch.get_num_threads() == threads


def test_trained_model_beats_chance_and_loss_falls(task, trained):
    assert len(trained.losses) == len(trained.accuracies) == 100
    assert trained.losses[-1] < 0.5 * trained.losses[0]
    held_out = data.make_two_relation_task(128, seed=1)
    assert evaluate(trained, held_out) > 10 * held_out.chance
    assert evaluate(trained.model, task) == pytest.approx(trained.final_accuracy, abs=0.05)
    assert not trained.model.training and next(trained.model.parameters()).device.type == "cpu"


def test_accuracy_counts_only_asked_positions(task, trained):
    """evaluate (like every training step) takes the argmax on the asked rows only: exactly the number that taking
    it everywhere and then keeping the asked positions gives."""
    for head_mask in (None, torch.tensor([1.0, 0.0])):
        with torch.no_grad():
            logits, _ = trained.model(task.ids, head_mask=head_mask)  # (n, T, classes)
        asked = task.targets != data.IGNORE  # (n, T)
        everywhere = (logits.argmax(-1)[asked] == task.targets[asked]).double().mean().item()
        assert evaluate(trained, task, head_mask=head_mask) == everywhere


def test_head_mask_changes_accuracy(task, trained):
    full = evaluate(trained, task)
    assert evaluate(trained, task, head_mask=torch.ones(2)) == full
    assert evaluate(trained, task, head_mask=torch.zeros(2)) < full - 0.3
    assert evaluate(trained, task, head_mask=torch.tensor([1.0, 0.0])) < full - 0.2
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        evaluate(trained, task, head_mask=torch.ones(3))


def test_head_role_scores(task, trained):
    scores = head_role_scores(trained, task)
    assert scores.shape == (2, len(task.roles))
    assert ((scores >= 0) & (scores <= 1)).all()
    # after training, each role has a head that puts most of its attention on the role's key
    assert (scores.max(dim=0).values > 0.5).all()


def test_head_role_scores_of_a_hand_made_pattern():
    # a model whose head 0 always looks at token 0 and whose head 1 always looks at itself
    task = data.make_two_relation_task(50, seed=0, seq_len=4)
    model = TinyAttentionModel(task.vocab_size, 4, 2, task.seq_len, num_classes=task.num_classes)

    class Fixed(torch.nn.Module):
        def forward(self, x, head_mask=None, padding_mask=None, dropout_noise=None):  # MultiHeadAttention's call
            B, T, _ = x.shape
            w = torch.zeros(B, 2, T, T)
            w[:, 0, :, 0] = 1.0
            w[:, 1] = torch.eye(T)
            return x, w

    model.attn = Fixed()
    scores = head_role_scores(model, task)  # columns: largest, smallest
    for r, keys in enumerate(task.roles.values()):  # (n, T): every query -> one key
        assert scores[0, r] == pytest.approx((keys == 0).float().mean().item())  # head 0 is right when it is at 0
        assert scores[1, r] == pytest.approx(1 / task.seq_len)  # head 1 is right at one query of T


def test_callback_sees_every_step(task):
    seen = []
    result = train(task, num_heads=1, d_model=8, steps=5, callback=lambda step, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == list(range(5))
    assert [loss for _, loss in seen] == result.losses


def test_identical_heads_stay_identical(task):
    result = train(task, num_heads=2, d_model=8, steps=30, seed=0, identical_heads=True)
    attn = result.model.attn
    w, w_o = attn.qkv.weight.view(3, 2, 4, 8), attn.out_proj.weight.view(8, 2, 4)
    assert torch.equal(w[:, 0], w[:, 1]) and torch.equal(w_o[:, 0], w_o[:, 1])
    scores = head_role_scores(result, task)
    assert torch.equal(scores[0], scores[1])
    # copy_head_to_all alone makes the heads equal at the start (rounding may separate them later)
    model = TinyAttentionModel(6, 8, 2, 4)
    copy_head_to_all(model, head=1)
    w = model.attn.qkv.weight.view(3, 2, 4, 8)
    assert torch.equal(w[:, 0], w[:, 1])


def test_train_bad_arguments(task):
    with pytest.raises(TypeError, match="Task"):
        train("not a task", num_heads=2)
    with pytest.raises(ValueError, match="divisible"):
        train(task, num_heads=3, d_model=16, steps=1)
    with pytest.raises(ValueError, match="steps"):
        train(task, num_heads=2, steps=0)
    with pytest.raises(ValueError, match="lr"):
        train(task, num_heads=2, steps=1, lr=-1)
    with pytest.raises(TypeError, match="callback"):
        train(task, num_heads=2, steps=1, callback=3)
    with pytest.raises(ValueError, match="head must be"):
        copy_head_to_all(TinyAttentionModel(6, 8, 2, 4), head=2)


# --- two layers ---------------------------------------------------------------------------

from mha.experiments import ask_at  # noqa: E402
from mha.models import TwoLayerAttentionModel  # noqa: E402


@pytest.fixture(scope="module")
def referent_at_it():
    return ask_at(data.make_referent_task(64, seed=0), data.IT_POS)


def test_two_layer_model_shapes_and_head_mask():
    model = TwoLayerAttentionModel(vocab_size=7, d_model=8, num_heads=2, max_len=5, num_classes=11)
    ids = torch.randint(7, (3, 5), generator=torch.Generator().manual_seed(0))
    logits, weights = model(ids)
    assert logits.shape == (3, 5, 11) and weights.shape == (3, 2, 2, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 2, 5))
    assert all(isinstance(layer, mha.MultiHeadAttention) for layer in model.layers)
    same, _ = model(ids, head_mask=torch.ones(2, 2))
    torch.testing.assert_close(same, logits)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        model(ids, head_mask=torch.ones(2))
    with pytest.raises(ValueError, match="max_len=5"):
        model(torch.zeros(1, 6, dtype=torch.long))


def test_two_layer_training_is_reproducible_and_scored_per_layer(referent_at_it):
    a = train(referent_at_it, num_heads=2, d_model=8, steps=5, seed=1, num_layers=2)
    b = train(referent_at_it, num_heads=2, d_model=8, steps=5, seed=1, num_layers=2)
    assert isinstance(a.model, TwoLayerAttentionModel) and a.losses == b.losses
    assert head_role_scores(a, referent_at_it, layer=1).shape == (2, 2)
    with pytest.raises(ValueError, match="layer=0 .. 1"):
        head_role_scores(a, referent_at_it)
    with pytest.raises(ValueError, match="num_layers"):
        train(referent_at_it, num_heads=2, steps=1, num_layers=3)
    with pytest.raises(ValueError, match="identical_heads"):
        train(referent_at_it, num_heads=2, steps=1, num_layers=2, identical_heads=True)
    with pytest.raises(TypeError, match="dtype"):
        train(referent_at_it, num_heads=2, steps=1, dtype=torch.float16)


# ---------------------------------------------------------------- the same numbers on every machine


def _fingerprint(result) -> str:
    import hashlib

    weights = b"".join(p.detach().numpy().tobytes() for p in result.model.parameters())
    return hashlib.sha256(weights).hexdigest()


def test_weights_start_and_stay_on_the_grid(task):
    from mha.train import GRID, init_weights_, snap_to_grid_

    model = init_weights_(TinyAttentionModel(task.vocab_size, 8, 2, task.seq_len).double(), seed=3)
    again = init_weights_(TinyAttentionModel(task.vocab_size, 8, 2, task.seq_len).double(), seed=3)
    other = init_weights_(TinyAttentionModel(task.vocab_size, 8, 2, task.seq_len).double(), seed=4)
    for p, q, r in zip(model.parameters(), again.parameters(), other.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r)
        assert torch.equal(p, torch.round(p / GRID) * GRID)
    emb, w = model.tok_emb.weight, model.attn.qkv.weight  # N(0, 1) and U(-1/sqrt(8), 1/sqrt(8))
    assert 0.6 < emb.std() < 1.4 and w.abs().max() <= 8**-0.5
    x = torch.tensor([0.3 * GRID, 0.7 * GRID, -1.6 * GRID], dtype=torch.float64)
    assert snap_to_grid_(x).tolist() == [0.0, GRID, -2 * GRID]
    result = train(task, num_heads=2, d_model=8, steps=3, seed=0)
    for p in result.model.parameters():
        assert p.dtype == torch.float64 and torch.equal(p, torch.round(p / GRID) * GRID)


def test_train_many_equals_train_seed_by_seed(task):
    from mha.train import train_many

    test = data.make_two_relation_task(64, seed=1)
    many = train_many(task, 2, seeds=[0, 3], d_model=8, steps=12, lr=0.02, test=test, test_every=4)
    for run in many:
        alone = train(task, num_heads=2, d_model=8, steps=12, seed=run.seed, lr=0.02, test=test, test_every=4)
        assert _fingerprint(run) == _fingerprint(alone)
        assert run.losses == alone.losses and run.accuracies == alone.accuracies
        assert [at for at, _ in run.test_curve] == [4, 8, 12]
        assert run.test_curve == alone.test_curve and run.test_curve[-1][1] == evaluate(run, test)
    assert _fingerprint(many[0]) != _fingerprint(many[1])
    with pytest.raises(ValueError, match="seeds"):
        train_many(task, 2, seeds=[])
    with pytest.raises(ValueError, match="seeds"):
        train_many(task, 2, seeds=[0, -1])


def test_identical_heads_stay_exact_copies_when_trained_freely(task):
    from mha.experiments import head_distance

    free = train(task, num_heads=2, d_model=8, steps=20, seed=0, init=copy_head_to_all)
    assert head_distance(free) == 0.0  # the rounding of every step cannot pull them apart


_KERNEL_RUN = """
import hashlib, torch
from mha import data, train
task = data.make_two_relation_task(96, seed=0)
runs = train.train_many(task, 1, seeds=[0, 1, 2, 3], d_model=8, steps=60, lr=0.03)
padded = data.make_padded_two_relation_task(96, seed=0)  # notebook 8's path: padding mask and dropout
runs += train.train_many(padded, 2, seeds=[0, 1], d_model=8, steps=40, lr=0.03, dropout=0.1)
print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for r in runs for p in r.model.parameters())).hexdigest())
"""


def test_training_gives_the_same_weights_under_every_cpu_kernel_and_thread_count():
    """One-head runs are the chaotic ones: without the grid their weights differ between kernels after 60 steps."""
    import os
    import subprocess
    import sys

    seen = {}
    for capability in ("default", "avx2", "avx512"):
        for threads in ("1", "2"):
            env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS=threads)
            out = subprocess.run(
                [sys.executable, "-c", _KERNEL_RUN], env=env, capture_output=True, text=True, check=True
            )
            got, fingerprint = out.stdout.split("\n")[:2]
            seen[(capability, threads)] = (got, fingerprint)
    assert seen[("default", "1")][0].startswith("DEFAULT")  # the plain kernels really ran
    assert len({fingerprint for _, fingerprint in seen.values()}) == 1, seen


def test_frozen_parts_keep_their_starting_values(task):
    start = train(task, num_heads=2, d_model=8, steps=1, seed=0, lr=1e-12)  # practically the starting weights
    frozen = train(task, num_heads=2, d_model=8, steps=10, seed=0, frozen=["attn.out_proj"])
    free = train(task, num_heads=2, d_model=8, steps=10, seed=0)
    w0, w_frozen, w_free = (r.model.attn.out_proj.weight for r in (start, frozen, free))
    assert torch.equal(w0, w_frozen) and not torch.equal(w0, w_free)
    assert not torch.equal(start.model.attn.qkv.weight, frozen.model.attn.qkv.weight)  # the rest learned
    assert frozen.config["frozen"] == ["attn.out_proj.bias", "attn.out_proj.weight"]
    with pytest.raises(ValueError, match="frozen names no parameter: 'attn.w_o'"):
        train(task, num_heads=2, d_model=8, steps=1, frozen=["attn.w_o"])


# ---------------------------------------------------------------- padded tasks and dropout (notebook 8)


def test_padded_training_with_dropout_equals_train_seed_by_seed_and_ignores_the_padding():
    from mha.train import train_many

    padded = data.make_padded_two_relation_task(64, seed=0)
    test = data.make_padded_two_relation_task(64, seed=1)
    many = train_many(padded, 2, seeds=[0, 1], d_model=8, steps=15, lr=0.03, dropout=0.2, test=test, test_every=5)
    for run in many:
        alone = train(padded, num_heads=2, d_model=8, steps=15, seed=run.seed, lr=0.03, dropout=0.2, test=test)
        assert _fingerprint(run) == _fingerprint(alone) and run.losses == alone.losses
        assert run.test_curve[-1][1] == evaluate(run, test)  # measured without dropout, with the padding mask
        assert run.config["dropout"] == 0.2
    no_dropout = train(padded, num_heads=2, d_model=8, steps=15, seed=0, lr=0.03)
    assert _fingerprint(no_dropout) != _fingerprint(many[0])  # dropout changed the training
    # the padding mask at work: other ids at the padding positions change no real position's logits
    model = many[0].model
    other = padded.ids.masked_fill(~padded.padding_mask, 3)  # a digit where "<pad>" was
    real = padded.padding_mask
    with torch.no_grad():
        a, _ = model(padded.ids, padding_mask=padded.padding_mask)
        b, _ = model(other, padding_mask=padded.padding_mask)
        c, _ = model(other)  # without the mask the padding leaks in
    assert torch.equal(a[real], b[real]) and not torch.allclose(a[real], c[real])


def test_padded_task_layout():
    padded = data.make_padded_two_relation_task(8, seed=0, lengths=(2, 4))
    assert padded.ids.shape == (8, 4) and padded.lengths.tolist() == [2, 2, 2, 2, 4, 4, 4, 4]
    assert padded.vocab[-1] == "<pad>" and (padded.ids[:4, 2:] == len(padded.vocab) - 1).all()
    assert (padded.targets[:4, 2:] == data.IGNORE).all() and (padded.targets[:, :2] != data.IGNORE).all()
    assert padded.padding_mask.tolist()[0] == [True, True, False, False]
    assert data.make_two_relation_task(3).padding_mask is None
    with pytest.raises(ValueError, match="n=6 must split evenly between the 4 lengths"):
        data.make_padded_two_relation_task(6)


def test_dropout_bad_arguments(task):
    with pytest.raises(ValueError, match="dropout must be a probability"):
        train(task, num_heads=2, d_model=8, steps=1, dropout=1.5)
    with pytest.raises(ValueError, match="dropout needs num_layers=1"):
        train(task, num_heads=2, d_model=8, steps=1, dropout=0.1, num_layers=2)
