"""mha.experiments: the experiments of notebooks 2 and 6 (head counts over seeds, baselines, identical heads,
the question asked at "it", each head's term of the output, head importance and pruning)."""

import pytest
import torch

from mha import data
from mha.experiments import (
    ask_at,
    compare_head_counts,
    compare_with_forced,
    first_steps,
    head_contributions,
    head_distance,
    head_importance,
    majority_baseline,
    one_role_baseline,
    positional_baseline,
    pruning_curve,
    push_heads_,
    role_heads,
    role_spread,
    symmetry_study,
    train_from_identical_heads,
    train_pushed,
)
from mha.experiments.head_counts import count_ahead, seed_curves, summarise_seeds, uniform_attention_rule
from mha.models import TinyAttentionModel, copy_head_to_all
from mha.train import GRID, evaluate, init_weights_, train, train_many


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
    assert distances == [0.0] * 7  # identical heads trained freely stay exact copies


def test_push_heads_moves_each_head_weight_by_the_size_on_the_grid():
    def identical_heads():
        model = init_weights_(TinyAttentionModel(6, 8, 2, 4).double(), seed=0)
        copy_head_to_all(model)
        return model

    model = identical_heads()
    embeddings = model.tok_emb.weight.clone()
    push_heads_(model, GRID, seed=3)
    assert head_distance(model) == 2 * GRID  # two heads pushed in opposite directions somewhere
    assert torch.equal(model.tok_emb.weight, embeddings)  # only the heads' own weights move
    again = push_heads_(identical_heads(), GRID, seed=3)
    assert torch.equal(again.attn.qkv.weight, model.attn.qkv.weight)  # the same seed, the same push
    other = push_heads_(identical_heads(), GRID, seed=4)
    assert not torch.equal(other.attn.qkv.weight, model.attn.qkv.weight)
    assert head_distance(push_heads_(identical_heads(), GRID / 4, seed=3)) == 0.0  # below half a step: rounded away
    assert head_distance(push_heads_(identical_heads(), 1e-2, seed=3)) == pytest.approx(2e-2, abs=GRID)
    with pytest.raises(ValueError, match="size"):
        push_heads_(model, -1.0, seed=0)
    with pytest.raises(TypeError):
        push_heads_(torch.nn.Linear(2, 2), GRID, seed=0)


def test_train_pushed_and_symmetry_study(task):
    test = data.make_two_relation_task(64, seed=1)
    runs = train_pushed(task, num_heads=2, sizes=[0.0, 1e-2], seeds=[0, 1], d_model=8, steps=4)
    assert list(runs) == [0.0, 1e-2]
    (free0, d0), (pushed, d1) = runs[0.0], runs[1e-2]
    assert [r.seed for r in pushed] == [0, 1] and all(len(d) == 5 for d in d0 + d1)
    assert all(v == 0.0 for d in d0 for v in d) and all(d[0] > 0 for d in d1)
    assert d1[1][-1] == head_distance(pushed[1])
    forced = train(task, num_heads=2, d_model=8, steps=4, seed=1, identical_heads=True)
    for name, p in forced.model.named_parameters():  # free from identical heads == forced equal, bit for bit
        assert torch.equal(p, dict(free0[1].model.named_parameters())[name]), name
    study = symmetry_study(task, test, num_heads=2, sizes=[0.0, 1e-2], seeds=[0, 1], d_model=8, steps=4)
    assert study.loss[0.0] == study.loss["forced"] and study.spread["forced"] == [0.0, 0.0]
    assert study.accuracy["forced"][1] == evaluate(forced, test)
    with pytest.raises(ValueError, match="sizes"):
        train_pushed(task, num_heads=2, sizes=[0.0, 0.0], seeds=[0], steps=1)


def test_role_spread_heads_and_positional_baseline(task):
    run = train(task, num_heads=2, d_model=8, steps=4, seed=0)
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.3]])
    assert role_heads(scores, 0.5) == [1, None] and role_heads(scores, 0.05) == [1, 2]
    assert role_heads(scores, [0.95, 0.25]) == [None, 2]
    with pytest.raises(ValueError, match="one per role"):
        role_heads(scores, [0.5])
    assert role_spread(run, task) > 0
    copy_head_to_all(run.model)
    assert role_spread(run, task) == 0.0
    referent = data.make_referent_task(256, seed=0)
    assert positional_baseline(referent, "verb") == 1.0  # the verb never moves
    assert 0.4 < positional_baseline(referent, "reference") < 0.6  # the animal or the thing, about half each
    with pytest.raises(ValueError, match="role"):
        positional_baseline(referent, "subject")


def test_compare_with_forced_counts_ties():
    assert compare_with_forced([0.1, 0.5, 0.9], [0.5, 0.5, 0.5], tolerance=0.01) == (1, 1, 1)
    assert compare_with_forced([0.495, 0.505], [0.5, 0.5], tolerance=0.01) == (0, 2, 0)
    with pytest.raises(ValueError, match="forced"):
        compare_with_forced([0.1], [0.1, 0.2], tolerance=0.0)


def test_first_steps_adam_matches_training_and_sgd_keeps_a_tiny_push_tiny():
    referent = data.make_referent_task(64, seed=0)
    adam = first_steps(referent, num_heads=2, size=GRID, seed=2, steps=4, d_model=8)
    runs = train_pushed(referent, num_heads=2, sizes=[GRID], seeds=[2], d_model=8, steps=4)
    assert adam == runs[GRID][1][0]  # the same arithmetic as mha.train
    sgd = first_steps(referent, num_heads=2, size=GRID, seed=2, steps=4, d_model=8, optimizer="sgd")
    assert sgd == [2 * GRID] * 5  # SGD's tiny step difference is rounded away
    assert adam[0] == 2 * GRID and adam[-1] >= 5 * GRID  # Adam's grows
    with pytest.raises(ValueError, match="optimizer"):
        first_steps(referent, optimizer="rmsprop")


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
