"""mha.experiments: the experiments of notebooks 2 and 6 (head counts over seeds, baselines, identical heads,
the question asked at "it", each head's term of the output, head importance and pruning)."""

import pytest
import torch

from mha import data
from mha.experiments import (
    ask_at,
    compare_head_counts,
    head_contributions,
    head_distance,
    head_importance,
    majority_baseline,
    one_role_baseline,
    pruning_curve,
    train_from_identical_heads,
)
from mha.experiments.head_counts import count_ahead, seed_curves, summarise_seeds, uniform_attention_rule
from mha.train import TinyAttentionModel, copy_head_to_all, evaluate, train, train_many


@pytest.fixture(scope="module")
def referent_at_it():
    return ask_at(data.make_referent_task(64, seed=0), data.IT_POS)


def test_head_distance_and_free_training_from_identical_heads(task):
    model = TinyAttentionModel(6, 8, 2, 4)
    assert head_distance(model) > 0
    copy_head_to_all(model)
    assert head_distance(model) == 0.0
    result, distances = train_from_identical_heads(task, num_heads=2, d_model=8, steps=6, seed=0)
    assert len(distances) == 7 and distances[0] == 0.0 and distances[-1] == head_distance(result)
    again, same = train_from_identical_heads(task, num_heads=2, d_model=8, steps=6, seed=0)
    assert same == distances
    with pytest.raises(TypeError, match="TinyAttentionModel"):
        head_distance(torch.nn.Linear(2, 2))


def test_compare_head_counts(task):
    test = data.make_two_relation_task(64, seed=1)
    accuracies = compare_head_counts(task, test, head_counts=[1, 2], seeds=[0, 1], d_model=8, steps=4)
    assert list(accuracies) == [1, 2] and all(len(a) == 2 for a in accuracies.values())
    alone = evaluate(train(task, num_heads=2, d_model=8, steps=4, seed=1), test)
    assert accuracies[2][1] == alone
    assert compare_head_counts(task, test, head_counts=[1, 2], seeds=[0, 1], d_model=8, steps=4) == accuracies
    with pytest.raises(ValueError, match="seeds"):
        compare_head_counts(task, test, seeds=[])
    with pytest.raises(ValueError, match="head_counts"):
        compare_head_counts(task, test, head_counts=[0])
    with pytest.raises(TypeError, match="seeds="):
        compare_head_counts(task, test, seed=3)


def test_baselines():
    train_task, test = data.make_two_relation_task(512, seed=0), data.make_two_relation_task(512, seed=1)
    majority = majority_baseline(train_task, test)
    # the most common pair is "9,0": 8 choose 3 of the 10 choose 5 digit sets
    assert majority == pytest.approx(56 / 252, abs=0.05)
    one_look = one_role_baseline(train_task, test, "smallest")
    assert majority < one_look < 0.7
    with pytest.raises(ValueError, match="role must be one of"):
        one_role_baseline(train_task, test, "middle")
    with pytest.raises(ValueError, match="same kind of task"):
        majority_baseline(train_task, data.make_referent_task(8))


def test_seed_curves_summaries_and_counts(task):
    test = data.make_two_relation_task(64, seed=1)
    runs = train_many(task, 2, [0, 1, 2], d_model=8, steps=6, test=test, test_every=3)
    steps, curves = seed_curves(runs)
    assert steps == [3, 6] and curves.shape == (3, 2)
    assert curves[1, 1].item() == evaluate(runs[1], test)  # the last point is the trained model's accuracy
    with pytest.raises(ValueError, match="test_curve"):
        seed_curves(train_many(task, 2, [0], d_model=8, steps=2))
    s = summarise_seeds([0.5, 0.6, 0.7, 0.6], baseline=0.6)
    assert (s["n"], s["mean"], s["median"], s["above"], s["ties"]) == (4, pytest.approx(0.6), 0.6, 1, 2)
    assert s["sd"] == pytest.approx(torch.tensor([0.5, 0.6, 0.7, 0.6]).std().item())  # the sample sd (n - 1)
    with pytest.raises(ValueError, match="at least 2"):
        summarise_seeds([0.5], 0.1)
    assert count_ahead([0.9, 0.5, 0.7], [0.8, 0.5, 0.8]) == dict(ahead=1, ties=1, behind=1, n=3)
    with pytest.raises(ValueError, match="one number per seed"):
        count_ahead([0.9, 0.5], [0.8])


def test_uniform_attention_rule_answers_every_sequence():
    # one head that looks everywhere equally, with a linear readout, can do the task: capacity is not the limit
    assert uniform_attention_rule(data.make_two_relation_task(300, seed=4)) == 1.0
    assert uniform_attention_rule(data.make_two_relation_task(50, seed=2, seq_len=3, num_symbols=6)) == 1.0
    with pytest.raises(ValueError, match="make_two_relation_task"):
        uniform_attention_rule(data.make_referent_task(8))


def test_ask_at_moves_the_question():
    task = data.make_referent_task(20, seed=0)
    moved = ask_at(task, data.IT_POS)
    assert (moved.targets[:, data.IT_POS] == task.targets[:, data.ADJ_POS]).all()
    assert (moved.targets[:, data.ADJ_POS] == data.IGNORE).all()
    assert (moved.roles["reference"][:, data.IT_POS] == task.roles["reference"][:, data.ADJ_POS]).all()
    with pytest.raises(ValueError, match="position must be"):
        ask_at(task, 11)
    with pytest.raises(ValueError, match="exactly one question"):
        ask_at(data.make_two_relation_task(8), 0)


def test_head_contributions_add_up_to_the_layer_output(task, trained, referent_at_it):
    ids = task.ids[:3]  # (3, T)
    parts = head_contributions(trained, ids)  # (3, h, T, d_model)
    assert parts.shape == (3, 2, task.seq_len, 16)
    model = trained.model
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(task.seq_len))
    with torch.no_grad():
        torch.testing.assert_close(parts.sum(1) + model.attn.out_proj.bias, model.attn(x)[0])
    two = train(referent_at_it, num_heads=2, d_model=8, steps=3, seed=0, num_layers=2).model
    ids = referent_at_it.ids[:2]
    with torch.no_grad():
        x1 = two.residual_inputs(ids)[1]
        torch.testing.assert_close(
            head_contributions(two, ids, layer=1).sum(1) + two.layers[1].out_proj.bias, two.layers[1](x1)[0]
        )
    with pytest.raises(ValueError, match="layer"):
        head_contributions(trained, task.ids[:1], layer=1)


def test_head_importance_and_pruning_curve(task, trained):
    drops = head_importance(trained, task)
    assert drops.shape == (2,) and (drops > 0.2).all()
    curve = pruning_curve(trained, task)
    assert len(curve) == 3 and curve[0] == evaluate(trained, task)
    assert curve[-1] == evaluate(trained, task, head_mask=torch.zeros(2))
    assert pruning_curve(trained, task, order="random", seed=1) == pruning_curve(trained, task, order="random", seed=1)
    assert pruning_curve(trained, task, order=[1, 0])[1] == evaluate(trained, task, head_mask=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="every head"):
        pruning_curve(trained, task, order=[0, 0])
    with pytest.raises(ValueError, match="order must be"):
        pruning_curve(trained, task, order="best")
