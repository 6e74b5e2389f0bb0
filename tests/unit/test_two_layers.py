"""Notebook 7's pieces: sentences whose nouns move, the resolver score and its positional baselines, and the
figures (the checks of exercises 07.1 and 07.2 are tested in test_exercises.py)."""

import pytest
import torch
from torch import nn

from mha import data, viz
from mha.data import IGNORE
from mha.experiments import head_contributions, positional_baselines, prefers_right_noun, resolver_scores
from mha.models import TwoLayerAttentionModel
from mha.train import init_weights_, train


@pytest.fixture(scope="module")
def moving():
    return data.make_moving_referent_task(400, seed=0)


def test_moving_task_is_seeded_and_asks_at_it(moving):
    again = data.make_moving_referent_task(400, seed=0)
    assert torch.equal(moving.ids, again.ids) and torch.equal(moving.targets, again.targets)
    assert not torch.equal(moving.ids, data.make_moving_referent_task(400, seed=1).ids)
    assert moving.ids.shape == (400, 11) and moving.num_classes == 12
    assert moving.vocab == data.make_referent_task(4).vocab  # the words of notebook 6's task
    asked = moving.targets != IGNORE
    assert (asked.sum(1) == 1).all()
    it = moving.vocab.index("it")
    assert (moving.ids[asked] == it).all()  # the question is asked at "it"
    for name in ("reference", "other noun", "adjective"):
        assert torch.equal(moving.roles[name] >= 0, asked)


def test_the_answer_is_the_noun_the_adjective_is_about(moving):
    where = (moving.targets != IGNORE).float().argmax(1)
    for i, sentence in enumerate(moving.sentences[:100]):
        words = sentence.split()
        right = moving.roles["reference"][i, where[i]]
        wrong = moving.roles["other noun"][i, where[i]]
        adjective = words[moving.roles["adjective"][i, where[i]]]
        agent = words.index("didn't") - 1
        assert moving.target_vocab[moving.targets[i, where[i]]] == words[right]
        assert (right == agent) == (adjective in data.SUBJECT_ADJECTIVES)
        assert {int(right), int(wrong)} == {i_ for i_, w in enumerate(words) if w in data.ANIMALS + data.PLACES}


def test_nouns_move_over_the_four_word_orders(moving):
    starts = {" ".join(s.split()[:1]) for s in moving.sentences}
    assert starts == {"the", "because"}
    where = (moving.targets != IGNORE).float().argmax(1)
    right = moving.roles["reference"][torch.arange(400), where]
    assert len(right.unique()) >= 6  # the right noun stands in many places
    baselines = positional_baselines(moving)
    assert baselines["the same position every time"] < 0.35
    assert baselines["a position chosen by the adjective"] < 0.4
    assert 0.4 < baselines["the first noun"] < 0.6


def test_the_example_sentence_and_its_twin_belong_to_the_task():
    pair = data.moving_referent_task_of([data.EXAMPLE_SENTENCE, data.WIDE_SENTENCE])
    assert [pair.target_vocab[t[t != IGNORE]] for t in pair.targets] == ["animal", "street"]
    assert pair.roles["reference"][:, 7].tolist() == [1, 5]
    assert pair.roles["other noun"][:, 7].tolist() == [5, 1]
    with pytest.raises(ValueError, match="vocabulary"):
        data.moving_referent_task_of(["the elephant didn't cross the street because it was too tired"])
    with pytest.raises(ValueError, match="two nouns"):
        data.moving_referent_task_of(["the animal didn't cross the the because it was too tired"])


def test_resolver_score_counts_rows_that_prefer_the_right_noun(moving):
    model = TwoLayerAttentionModel(moving.vocab_size, 8, 2, 11, num_classes=12)
    init_weights_(model.double(), 0)
    prefers = prefers_right_noun(model, moving)
    assert prefers.shape == (400, 2) and prefers.dtype == torch.bool
    torch.testing.assert_close(resolver_scores(model, moving), prefers.double().mean(0))
    # a row that looks exactly at the right noun scores 1, one that looks at the other noun 0
    where = (moving.targets != IGNORE).float().argmax(1)
    rows = torch.arange(400)

    class Pointing(nn.Module):
        def __init__(self, role):
            super().__init__()
            self.role, self.anchor = role, nn.Parameter(torch.zeros(1))

        def forward(self, ids, head_mask=None):
            w = torch.zeros(ids.shape[0], 1, 11, 11)
            w[rows, 0, where, moving.roles[self.role][rows, where]] = 1.0
            return torch.zeros(ids.shape[0], 11, 12), w

    assert resolver_scores(Pointing("reference"), moving).tolist() == [1.0]
    assert resolver_scores(Pointing("other noun"), moving).tolist() == [0.0]
    with pytest.raises(ValueError, match="other noun"):
        resolver_scores(model, data.make_referent_task(8))


def test_two_layers_learn_to_resolve_on_the_moving_task():
    task = data.make_moving_referent_task(128, seed=0)
    result = train(task, num_heads=2, d_model=8, steps=30, seed=0, lr=0.05, num_layers=2)
    assert result.final_loss < result.losses[0]
    ids = task.ids[:4]
    parts = head_contributions(result, ids, layer=1)  # (4, h, T, d_model)
    layer = result.model.layers[1]
    with torch.no_grad():
        full = layer(result.model.residual_inputs(ids)[1])[0]
    torch.testing.assert_close(parts.sum(1) + layer.out_proj.bias, full)


def test_figures_of_notebook_7():
    fig = viz.resolver_seeds_figure({"two layers": {0: 0.7, 1: 0.81234567}}, {"chance": 0.5})
    assert fig.data[0].y == (0.7, 0.8123) and fig.layout.shapes[0].y0 == 0.5
    fig = viz.frozen_control_figure({"one layer": {"learned": [0.9, 0.8], "frozen": [0.85, 0.8]}})
    assert len(fig.data) == 3 and fig.data[-1].y == (0.85, 0.825)
    with pytest.raises(ValueError, match="two arms"):
        viz.frozen_control_figure({"one layer": {"learned": [0.9, 0.8], "frozen": [0.85]}})
