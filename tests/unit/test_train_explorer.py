"""mha.explorers: the settings, tasks, remembered toy models and untrained heads behind mha.widgets."""

import dataclasses

import pytest
import torch

from mha import data, explorers, train


@pytest.fixture
def fresh():
    """No remembered models before or after a test."""
    explorers.forget_trained_models()
    yield
    explorers.forget_trained_models()


def test_explorer_settings_are_one_frozen_place():
    s = explorers.EXPLORER_SETTINGS
    assert (s.steps, s.seed, s.lr, s.num_examples, s.train_seed, s.test_seed) == (60, 2, 0.02, 512, 0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 10


def test_explorer_task_train_and_test_are_different_sentences_made_once():
    task, test = explorers.explorer_task("train"), explorers.explorer_task("test")
    assert task.ids.shape == test.ids.shape == (512, 11) and task.vocab == test.vocab
    assert task.sentences != test.sentences
    assert explorers.explorer_task() is task  # made once, then reused
    with pytest.raises(ValueError, match='split must be "train" or "test"'):
        explorers.explorer_task("valid")


def test_trained_model_is_trained_once_then_remembered(fresh):
    steps_seen = []
    assert not explorers.is_trained(2, 8, 3, 0)
    result = explorers.trained_model(2, 8, steps=3, seed=0, callback=lambda step, loss: steps_seen.append(step))
    assert steps_seen == [0, 1, 2] and len(result.losses) == 3 and result.lr == explorers.EXPLORER_SETTINGS.lr
    assert explorers.is_trained(2, 8, 3, 0)
    assert explorers.trained_model(2, 8, steps=3, seed=0, callback=lambda step, loss: steps_seen.append(step)) is result
    assert steps_seen == [0, 1, 2]  # the remembered model: no training, no callback
    logits, weights = result.model(explorers.explorer_task().ids[:5])
    assert logits.shape == (5, 11, 36) and weights.shape == (5, 2, 11, 11)
    explorers.forget_trained_models()
    assert not explorers.is_trained(2, 8, 3, 0)
    again = explorers.trained_model(2, 8, steps=3, seed=0)
    assert again is not result and again.losses == result.losses  # seeded: the same run again


def test_trained_model_bad_input_says_what_is_wrong(fresh):
    with pytest.raises(ValueError, match="not divisible"):
        explorers.trained_model(3, 8, steps=2)
    with pytest.raises(TypeError, match="steps must be a positive int"):
        explorers.trained_model(2, 8, steps=2.5)
    assert not explorers.is_trained(3, 8, 2, explorers.EXPLORER_SETTINGS.seed)


@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_head_ablation_switches_off_one_head_at_a_time(fresh, num_heads):
    result = explorers.trained_model(num_heads, 8, steps=5, seed=0)
    test = explorers.explorer_task("test")
    ablation = explorers.head_ablation(result, test)
    assert list(ablation) == [f"without head {i + 1}" for i in range(num_heads)]
    for i, accuracy in enumerate(ablation.values()):
        mask = torch.ones(num_heads)
        mask[i] = 0.0
        assert accuracy == train.evaluate(result, test, head_mask=mask)
        assert 0.0 <= accuracy <= 1.0


# ---------------------------------------------------------------- the head explorer's untrained heads


def test_random_heads_weights_shape_rows_and_seed():
    tokens = data.EXAMPLE_SENTENCE.split()
    w = explorers.random_heads_weights(tokens, 32, 4, seed=0)
    assert w.shape == (4, 11, 11)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 11))
    assert torch.equal(w, explorers.random_heads_weights(tokens, 32, 4, seed=0))  # deterministic
    assert not torch.allclose(w, explorers.random_heads_weights(tokens, 32, 4, seed=1))
    assert len({tuple(w[i].flatten().tolist()) for i in range(4)}) == 4  # four different heads
    # the larger initialisation (gain) makes the weights far from uniform: some head puts > 0.5 on one key
    assert w.max() > 0.5 and explorers.random_heads_weights(tokens, 32, 4, gain=0.1).max() < 0.2


def test_random_heads_weights_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    explorers.random_heads_weights(["a", "b"], 8, 2, seed=7)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"tokens": []}, ValueError, "non-empty list of words"),
        ({"tokens": "the cat"}, ValueError, "non-empty list of words"),
        ({"tokens": ["the", 3]}, ValueError, "non-empty list of words"),
        ({"num_heads": 3}, ValueError, "not divisible by num_heads=3"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"gain": 0}, ValueError, "gain must be a positive number"),
    ],
)
def test_random_heads_weights_bad_input(kwargs, error, words):
    args = dict(tokens=["the", "cat"], d_model=8, num_heads=2) | kwargs
    with pytest.raises(error, match=words):
        explorers.random_heads_weights(**args)
