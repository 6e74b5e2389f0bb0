"""mha.data: the generated tasks of notebooks 2 and 6 (vocabularies, targets, roles, seeds, errors)."""

import pytest
import torch

from mha import data
from mha.data import IGNORE


def test_tokenize_seed_sentence():
    words = data.tokenize(data.EXAMPLE_SENTENCE)
    assert words == ["the", "animal", "didn't", "cross", "the", "street", "because", "it", "was", "too", "tired"]
    assert data.tokenize(data.WIDE_SENTENCE)[-1] == "wide"
    with pytest.raises(TypeError, match="str"):
        data.tokenize(["the", "animal"])


@pytest.fixture(scope="module")
def referent():
    return data.make_referent_task(300, seed=0)


def test_referent_task_shapes_and_vocab(referent):
    n, T = 300, 11
    assert referent.ids.shape == referent.targets.shape == (n, T) and referent.ids.dtype == torch.long
    assert len(referent.vocab) == len(set(referent.vocab)) == referent.vocab_size
    assert referent.num_classes == 12 * 3  # (noun, verb) pairs
    assert all(referent.decode(row) == s.split() for row, s in zip(referent.ids, referent.sentences))
    assert set(referent.roles) == {"reference", "verb"}
    for keys in referent.roles.values():
        assert keys.shape == (n, T)
        # a role applies exactly where an answer is asked, and at no other position
    asked = referent.targets != IGNORE
    applies = torch.stack([k >= 0 for k in referent.roles.values()]).any(0)
    assert torch.equal(asked, applies)


def test_the_adjective_decides_the_referent(referent):
    adj, ref = data.ADJ_POS, referent.roles["reference"]
    for i, s in enumerate(referent.sentences):
        words = s.split()
        expected = 1 if words[adj] in data.SUBJECT_ADJECTIVES else 5
        assert words[adj] in data.SUBJECT_ADJECTIVES + data.OBJECT_ADJECTIVES
        assert ref[i, adj] == expected
        assert referent.target_vocab[referent.targets[i, adj]] == f"{words[expected]}, {words[3]}"  # noun, verb
        assert words[5] in data.PLACES or words[5] != words[1]  # never "the dog didn't follow the dog"
        assert not (words[adj] == "wide" and words[5] in data.ANIMALS)
    # both readings occur, and so do sentences whose two nouns are both animals
    assert (ref[:, adj] == 1).any() and (ref[:, adj] == 5).any()
    assert any(s.split()[5] in data.ANIMALS for s in referent.sentences)


def test_only_the_adjective_is_asked_and_the_verb_role(referent):
    asked = (referent.targets != IGNORE).nonzero()[:, 1]
    assert (asked == data.ADJ_POS).all() and len(asked) == referent.num_examples
    verb = referent.roles["verb"]
    assert (verb[:, data.ADJ_POS] == data.VERB_POS).all() and (verb[:, : data.ADJ_POS] == -1).all()
    assert all(s.split()[3] in data.VERBS for s in referent.sentences)


def test_seed_sentence_and_its_twin_are_in_the_vocabulary(referent):
    ids = referent.encode(data.EXAMPLE_SENTENCE)
    assert ids.shape == (1, 11) and referent.decode(ids[0]) == data.tokenize(data.EXAMPLE_SENTENCE)
    assert referent.encode(data.WIDE_SENTENCE)[0, -1] == referent.vocab.index("wide")
    assert "animal, cross" in referent.target_vocab and "street, cross" in referent.target_vocab
    with pytest.raises(ValueError, match="not in the task's vocabulary"):
        referent.encode("the zebra didn't cross the street because it was too tired")


def test_tasks_are_reproducible_and_depend_on_the_seed():
    for make in (data.make_referent_task, data.make_two_relation_task):
        a, b, c = make(64, seed=5), make(64, seed=5), make(64, seed=6)
        assert torch.equal(a.ids, b.ids) and torch.equal(a.targets, b.targets)
        assert not torch.equal(a.ids, c.ids)


def test_two_relation_task_targets_are_largest_and_smallest():
    task = data.make_two_relation_task(200, seed=0, seq_len=5, num_symbols=10)
    assert task.ids.shape == task.targets.shape == (200, 5)
    assert task.num_classes == 100 and task.vocab == [str(i) for i in range(10)]
    for row, targets in zip(task.ids, task.targets):
        assert len(set(row.tolist())) == 5  # all different
        label = f"{max(row.tolist())},{min(row.tolist())}"
        assert all(task.target_vocab[t] == label for t in targets)
    big, small = task.roles["largest"], task.roles["smallest"]
    assert torch.equal(task.ids.gather(1, big), task.ids.max(1, keepdim=True).values.expand(-1, 5))
    assert torch.equal(task.ids.gather(1, small), task.ids.min(1, keepdim=True).values.expand(-1, 5))
    assert 0 < task.chance < 0.1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=0), "positive int"),
        (dict(n=2.5), "positive int"),
        (dict(n=4, num_symbols=11), "from 2 to 10"),
        (dict(n=4, seq_len=11), "seq_len"),
        (dict(n=4, seq_len=6, num_symbols=5), "different"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_two_relation_task(**kwargs)


def test_referent_task_bad_n():
    with pytest.raises(ValueError, match="positive int"):
        data.make_referent_task(-1)


# ---------------------------------------------------------------- made-up embeddings and random heads


def test_word_vector_is_the_same_for_the_same_word_in_any_case():
    v = data.word_vector("animal", 16)
    assert v.shape == (16,) and v.dtype == torch.float32
    assert torch.equal(v, data.word_vector("Animal", 16))
    assert not torch.allclose(v, data.word_vector("street", 16))
    with pytest.raises(TypeError, match="word must be a str"):
        data.word_vector(3, 16)
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        data.word_vector("animal", 0)


@pytest.mark.parametrize("T, d_model", [(11, 32), (3, 5), (1, 1)])
def test_sinusoidal_positions_shape_and_values(T, d_model):
    p = data.sinusoidal_positions(T, d_model)
    assert p.shape == (T, d_model) and p.abs().max() <= 1.0
    assert torch.equal(p[0, 0::2], torch.zeros((d_model + 1) // 2))  # sin(0) = 0 ...
    assert torch.equal(p[0, 1::2], torch.ones(d_model // 2))  # ... and cos(0) = 1 at position 0
    if T > 1:
        assert len({tuple(row.tolist()) for row in p}) == T  # every position differs


def test_sinusoidal_positions_bad_input():
    with pytest.raises(ValueError, match="T must be a positive int"):
        data.sinusoidal_positions(0, 8)
    with pytest.raises(TypeError, match="d_model must be a positive int"):
        data.sinusoidal_positions(4, 8.0)
