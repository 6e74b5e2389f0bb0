"""Generated toy data: small sentences and sequences whose answers need attention, and made-up embeddings.

Every task is a :class:`Task`: token ids (n, T), one target per position (``IGNORE`` where nothing is
asked), the vocabularies, and for each *role* (a relation between two positions, such as "the word
before" or "what 'it' refers to") the key position the query should look at. The roles let
``mha.train.head_role_scores`` say which head does which job.

``word_vector`` and ``sinusoidal_positions`` give any sentence made-up embeddings.

Everything is drawn from a seeded ``torch.Generator`` on the CPU, so the same seed gives the same task
on every machine. This module imports neither plotly nor ipywidgets.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import torch

from mha.attention import padding_mask
from mha.validate import check_positive_int

__all__ = [
    "EXAMPLE_SENTENCE",
    "WIDE_SENTENCE",
    "IGNORE",
    "Task",
    "tokenize",
    "make_referent_task",
    "make_two_relation_task",
    "make_padded_two_relation_task",
    "ANIMALS",
    "PLACES",
    "VERBS",
    "SUBJECT_ADJECTIVES",
    "OBJECT_ADJECTIVES",
    "word_vector",
    "sinusoidal_positions",
]

EXAMPLE_SENTENCE = "The animal didn't cross the street because it was too tired"
WIDE_SENTENCE = "The animal didn't cross the street because it was too wide"  # its twin: "it" = the street
IGNORE = -100  # target for positions where nothing is asked (the value torch's cross_entropy skips)

ANIMALS = ["animal", "dog", "cat", "horse", "cow", "fox"]
PLACES = ["street", "road", "river", "bridge", "park", "field"]
VERBS = ["cross", "reach", "follow"]  # "cross" takes a place; "reach" and "follow" a place or another animal
SUBJECT_ADJECTIVES = ["tired", "sleepy", "slow", "weak"]  # "it was too tired": it = the first noun
OBJECT_ADJECTIVES = ["wide", "far", "busy", "high"]  # "it was too wide": it = the second noun
PLACE_ONLY = ["wide"]  # never said of an animal

# positions in "the <animal> didn't <verb> the <thing> because it was too <adj>"
ANIMAL_POS, VERB_POS, THING_POS, IT_POS, ADJ_POS = 1, 3, 5, 7, 10


def tokenize(s: str) -> list[str]:
    """Lower-case words split on spaces: "The animal didn't" -> ["the", "animal", "didn't"]."""
    if not isinstance(s, str):
        raise TypeError(f"tokenize expects a str, got {type(s).__name__}")
    return s.lower().split()


@dataclass
class Task:
    """A generated task.

    ids: (n, T) token ids into ``vocab``. targets: (n, T) ids into ``target_vocab``, ``IGNORE`` where no
    answer is asked. roles: for each role name, an (n, T) tensor giving, for every query position, the key
    position the role links it to (-1 where the role does not apply). sentences: the n inputs as text.
    lengths: for a padded task, the (n,) true lengths (sequence i is ids[i, :lengths[i]] followed by padding);
    None where every sequence fills all T positions.
    """

    name: str
    ids: torch.Tensor
    targets: torch.Tensor
    vocab: list[str]
    target_vocab: list[str]
    roles: dict[str, torch.Tensor]
    sentences: list[str] = field(default_factory=list)
    description: str = ""
    lengths: torch.Tensor | None = None

    @property
    def padding_mask(self) -> torch.Tensor | None:
        """(n, T) bool, True for a real token (``mha.padding_mask``), or None for a task without padding."""
        return None if self.lengths is None else padding_mask(self.lengths, self.seq_len)

    @property
    def num_examples(self) -> int:
        return self.ids.shape[0]

    @property
    def seq_len(self) -> int:
        return self.ids.shape[1]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def num_classes(self) -> int:
        return len(self.target_vocab)

    @property
    def chance(self) -> float:
        """The accuracy of guessing uniformly among the answers that occur in the targets."""
        asked = self.targets[self.targets != IGNORE]
        return 1.0 / max(1, asked.unique().numel())

    def encode(self, sentence) -> torch.Tensor:
        """(1, T) ids of one sentence (a str or a list of words) in this task's vocabulary."""
        words = tokenize(sentence) if isinstance(sentence, str) else list(sentence)
        unknown = [w for w in words if w not in self.vocab]
        if unknown:
            raise ValueError(f"words {unknown} are not in the task's vocabulary {self.vocab}")
        return torch.tensor([[self.vocab.index(w) for w in words]])

    def decode(self, ids) -> list[str]:
        """The words of a 1-d sequence of ids."""
        return [self.vocab[int(i)] for i in ids]

    def __repr__(self) -> str:
        return (
            f"Task({self.name!r}, n={self.num_examples}, T={self.seq_len}, vocab={self.vocab_size}, "
            f"classes={self.num_classes}, roles={list(self.roles)})"
        )


def _check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n (the number of examples) must be a positive int, got {n!r}")


def make_referent_task(n: int, seed: int = 0) -> Task:
    """Sentences in the example sentence's pattern, "the <animal> didn't <verb> the <thing> because it was too <adj>".

    The <thing> is a place ("street", "river", ...) or, after "reach" and "follow", another animal.
    At the last word (the adjective) the model answers two questions at once, as a pair "noun, verb":

    - **reference**: what does "it" refer to? The adjective decides: "tired", "sleepy", ... -> the animal
      (position 1); "wide", "far", ... -> the thing (position 5). Only the adjective knows which, so in a
      one-layer model only the adjective's row can find the right noun (the LLM4N article's semantic head);
      the row of "it" comes first and needs a second layer (``mha.experiments.ask_at`` moves the question
      there). Both nouns can be animals, so the answer needs a look at the right one.
    - **verb**: what did it not do? The verb (position 3), a fixed grammatical link in the sentence.

    The example sentence "... too tired" has the answer "animal, cross"; its twin "... too wide" has
    "street, cross". Returns a :class:`Task` with T = 11 and roles "reference" and "verb".
    """
    _check_n(n)
    g = torch.Generator().manual_seed(seed)
    adjectives = SUBJECT_ADJECTIVES + OBJECT_ADJECTIVES
    fixed = ["the", "didn't", "because", "it", "was", "too"]
    vocab = fixed + ANIMALS + VERBS + PLACES + adjectives
    nouns = ANIMALS + PLACES
    target_vocab = [f"{noun}, {verb}" for noun in nouns for verb in VERBS]  # (noun, verb) has id noun * 3 + verb
    u = torch.rand(n, 5, generator=g)  # (n, 5) uniform numbers, one column per choice

    def choose(words, x):
        return words[min(int(x * len(words)), len(words) - 1)]

    sentences, answers, referent_pos = [], [], []
    for i in range(n):
        animal, verb = choose(ANIMALS, u[i, 0]), choose(VERBS, u[i, 1])
        things = PLACES if verb == "cross" else PLACES + [a for a in ANIMALS if a != animal]
        thing = choose(things, u[i, 2])
        if u[i, 3] < 0.5:
            adj, pos = choose(SUBJECT_ADJECTIVES, u[i, 4]), ANIMAL_POS
        else:
            allowed = OBJECT_ADJECTIVES if thing in PLACES else [a for a in OBJECT_ADJECTIVES if a not in PLACE_ONLY]
            adj, pos = choose(allowed, u[i, 4]), THING_POS
        sentences.append(f"the {animal} didn't {verb} the {thing} because it was too {adj}")
        referent = animal if pos == ANIMAL_POS else thing
        answers.append(target_vocab.index(f"{referent}, {verb}"))
        referent_pos.append(pos)
    ids = torch.tensor([[vocab.index(w) for w in s.split()] for s in sentences])  # (n, T)
    n_, T = ids.shape
    targets = torch.full((n_, T), IGNORE)
    targets[:, ADJ_POS] = torch.tensor(answers)
    reference = torch.full((n_, T), -1)
    reference[:, ADJ_POS] = torch.tensor(referent_pos)
    verb = torch.full((n_, T), -1)
    verb[:, ADJ_POS] = VERB_POS
    return Task(
        name="referent",
        ids=ids,
        targets=targets,
        vocab=vocab,
        target_vocab=target_vocab,
        roles={"reference": reference, "verb": verb},
        sentences=sentences,
        description="at the adjective: the pair (what 'it' refers to, the verb it did not do)",
    )


def make_two_relation_task(n: int, seed: int = 0, seq_len: int = 5, num_symbols: int = 10) -> Task:
    """Sequences of distinct digits where every position must find two things at once.

    Each sequence holds ``seq_len`` different digits from 0 .. num_symbols-1 in random order, such as
    "3 7 0 5 2". At every position the answer is the *pair* (largest digit, smallest digit), written
    "7,0". One pattern of attention cannot point at both: a head that prefers big digits ignores the
    small ones. Two heads can each look one way. Answers are the num_symbols**2 pairs "a,b".

    Returns a :class:`Task` with roles "largest" and "smallest" (every query -> the position of that digit).
    """
    _check_n(n)
    if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or not 2 <= num_symbols <= 10:
        raise ValueError(f"num_symbols must be an int from 2 to 10 (the digits 0-9), got {num_symbols!r}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or not 2 <= seq_len <= num_symbols:
        raise ValueError(
            f"seq_len must be an int from 2 to num_symbols={num_symbols} (the digits of a sequence are all "
            f"different), got {seq_len!r}"
        )
    g = torch.Generator().manual_seed(seed)
    vocab = [str(i) for i in range(num_symbols)]
    target_vocab = [f"{a},{b}" for a in vocab for b in vocab]  # pair (a, b) has id a * num_symbols + b
    ids = torch.rand(n, num_symbols, generator=g).argsort(dim=1)[:, :seq_len]  # (n, T) distinct digits
    largest, smallest = ids.max(dim=1), ids.min(dim=1)  # values and positions, (n,) each
    targets = (largest.values * num_symbols + smallest.values)[:, None].expand(n, seq_len).clone()  # (n, T)
    roles = {
        "largest": largest.indices[:, None].expand(n, seq_len).clone(),  # (n, T): every query -> the max
        "smallest": smallest.indices[:, None].expand(n, seq_len).clone(),
    }
    return Task(
        name="largest and smallest",
        ids=ids,
        targets=targets,
        vocab=vocab,
        target_vocab=target_vocab,
        roles=roles,
        sentences=[" ".join(vocab[i] for i in row) for row in ids.tolist()],
        description="at every position: the pair (largest digit, smallest digit) of the sequence",
    )


def make_padded_two_relation_task(n: int, seed: int = 0, lengths=(3, 4, 5, 6)) -> Task:
    """``make_two_relation_task`` with sequences of different lengths, padded with a "<pad>" token to the longest.

    The n sequences are split evenly between the ``lengths`` (in that order); nothing is asked at a padding
    position (target ``IGNORE``, roles -1). Returns a :class:`Task` whose ``lengths`` holds each sequence's true
    length and whose vocabulary ends with "<pad>"; pass ``task.padding_mask`` to the model.
    """
    _check_n(n)
    lengths = list(lengths)
    if not lengths or n % len(lengths):
        raise ValueError(f"n={n} must split evenly between the {len(lengths)} lengths {lengths}")
    per_length, T = n // len(lengths), max(lengths)
    pieces = [make_two_relation_task(per_length, seed=10 * seed + L, seq_len=L) for L in lengths]
    ids = torch.full((n, T), len(pieces[0].vocab))  # (n, T): the id of "<pad>" everywhere at first
    targets = torch.full((n, T), IGNORE)
    roles = {role: torch.full((n, T), -1) for role in pieces[0].roles}
    for i, piece in enumerate(pieces):
        rows, L = slice(i * per_length, (i + 1) * per_length), piece.seq_len
        ids[rows, :L], targets[rows, :L] = piece.ids, piece.targets
        for role in roles:
            roles[role][rows, :L] = piece.roles[role]
    return Task(
        name="largest and smallest, padded",
        ids=ids,
        targets=targets,
        vocab=pieces[0].vocab + ["<pad>"],
        target_vocab=pieces[0].target_vocab,
        roles=roles,
        sentences=[s for piece in pieces for s in piece.sentences],
        description="at every real position: the pair (largest digit, smallest digit); sequences padded",
        lengths=torch.tensor([L for L in lengths for _ in range(per_length)]),
    )


# ---------------------------------------------------------------- made-up embeddings and random heads


def word_vector(word: str, d_model: int) -> torch.Tensor:
    """A made-up embedding (d_model,) of ``word``: the same numbers for the same word (any case), on every machine.

    The numbers are standard normal, drawn on the CPU from a generator seeded by the word's CRC-32.
    """
    if not isinstance(word, str):
        raise TypeError(f"word must be a str, got {type(word).__name__}")
    check_positive_int("d_model", d_model)
    g = torch.Generator().manual_seed(zlib.crc32(word.lower().encode()))
    return torch.randn(d_model, generator=g)


def sinusoidal_positions(T: int, d_model: int) -> torch.Tensor:
    """(T, d_model) sine and cosine position signals, so that repeated words still differ by where they stand.

    Column 2j holds sin(t * f_j) and column 2j + 1 cos(t * f_j) for the token at position t, with frequencies
    f_j = exp(-9.2 * 2j / d_model) from 1 down to about 1e-4; every value is in [-1, 1].
    """
    check_positive_int("T", T)
    check_positive_int("d_model", d_model)
    pos = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model * 9.2)  # (ceil(d/2),)
    angles = pos * freq  # (T, ceil(d/2))
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[:, :d_model]  # (T, d_model)


# ---------------------------------------------------------------- "it" with nouns that move (notebook 7)

# The four word orders of ``make_moving_referent_task``, all 11 words long; {a} the animal that did not do it, {v}
# the verb, {t} the thing it did not do it to, {j} the adjective. The first is the example sentence's order.
WORD_ORDERS = {
    "plain": "the {a} didn't {v} the {t} because it was too {j}",
    "thing first": "the {t} the {a} didn't {v} because it was too {j}",
    "because first": "because it was too {j} the {a} didn't {v} the {t}",
    "because first, thing first": "because it was too {j} the {t} the {a} didn't {v}",
}


def _parse_referent_sentence(words: list[str]) -> tuple[int, int, int, int, bool]:
    """(position of "it", of the adjective, of the animal that didn't, of the other noun, adjective is about the
    animal) for one sentence in one of the WORD_ORDERS."""
    adjectives = SUBJECT_ADJECTIVES + OBJECT_ADJECTIVES
    nouns = set(ANIMALS + PLACES)
    if words.count("it") != 1 or words.count("didn't") != 1:
        raise ValueError(f"expected one 'it' and one \"didn't\" in {' '.join(words)!r}")
    adj = [i for i, w in enumerate(words) if w in adjectives]
    noun = [i for i, w in enumerate(words) if w in nouns]
    if len(adj) != 1 or len(noun) != 2:
        raise ValueError(f"expected one adjective and two nouns in {' '.join(words)!r}")
    agent = words.index("didn't") - 1  # the animal that didn't: the noun just before "didn't"
    if agent not in noun:
        raise ValueError(f'expected a noun just before "didn\'t" in {" ".join(words)!r}')
    other = noun[0] if noun[1] == agent else noun[1]
    return words.index("it"), adj[0], agent, other, words[adj[0]] in SUBJECT_ADJECTIVES


def moving_referent_task_of(sentences, name: str = "moving nouns") -> Task:
    """The :class:`Task` of ``make_moving_referent_task`` for given sentences (str) in any of the WORD_ORDERS.

    The question is asked at "it": which noun does "it" stand for? The answer is that noun (one of the 12 nouns).
    Roles, for the query "it": "reference" (the right noun), "other noun" (the wrong one), "adjective".
    """
    vocab = ["the", "didn't", "because", "it", "was", "too"] + ANIMALS + VERBS + PLACES
    vocab += SUBJECT_ADJECTIVES + OBJECT_ADJECTIVES  # the vocabulary of make_referent_task, in the same order
    target_vocab = ANIMALS + PLACES
    rows = [tokenize(s) for s in sentences]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError("give one or more sentences, all with the same number of words (11 in WORD_ORDERS)")
    unknown = sorted({w for r in rows for w in r if w not in vocab})
    if unknown:
        raise ValueError(f"words {unknown} are not in the task's vocabulary {vocab}")
    n, T = len(rows), len(rows[0])
    ids = torch.tensor([[vocab.index(w) for w in r] for r in rows])  # (n, T)
    targets = torch.full((n, T), IGNORE)
    roles = {name_: torch.full((n, T), -1) for name_ in ("reference", "other noun", "adjective")}
    for i, words in enumerate(rows):
        it, adj, agent, other, about_agent = _parse_referent_sentence(words)
        right, wrong = (agent, other) if about_agent else (other, agent)
        targets[i, it] = target_vocab.index(words[right])
        roles["reference"][i, it], roles["other noun"][i, it], roles["adjective"][i, it] = right, wrong, adj
    return Task(
        name=name,
        ids=ids,
        targets=targets,
        vocab=vocab,
        target_vocab=target_vocab,
        roles=roles,
        sentences=[" ".join(r) for r in rows],
        description="at 'it': the noun 'it' refers to, in sentences whose nouns move",
    )


def make_moving_referent_task(n: int, seed: int = 0) -> Task:
    """Sentences like the example sentence whose nouns do not sit at fixed positions; the question is asked at "it".

    Each sentence takes one of the four WORD_ORDERS (equally likely), all 11 words long, with the words of
    ``make_referent_task``:

    - "the cat didn't follow the road because it was too far" (the example sentence's order),
    - "the road the cat didn't follow because it was too far" (the thing first),
    - "because it was too far the cat didn't follow the road" (the reason first),
    - "because it was too far the road the cat didn't follow" (both).

    So the animal stands at position 1, 3, 6 or 8 and the thing at 5, 1, 10 or 6, and "it" at 7 or 1: no fixed
    position, and no position picked by the adjective, holds the right noun in much more than a quarter of the
    sentences (``mha.experiments.positional_baselines`` measures it). As in ``make_referent_task``, "tired",
    "sleepy", "slow", "weak" are about the animal that didn't, "wide", "far", "busy", "high" about the thing, and
    after "reach" and "follow" the thing may be another animal.
    The example sentence and its twin ("... too wide") are sentences of this task.

    At "it" the model answers which noun "it" stands for (12 classes). Returns a :class:`Task` with T = 11 and
    roles "reference", "other noun" and "adjective" (for the query "it"), built by ``moving_referent_task_of``.
    """
    _check_n(n)
    g = torch.Generator().manual_seed(seed)
    orders = list(WORD_ORDERS.values())
    u = torch.rand(n, 6, generator=g)  # (n, 6) uniform numbers, one column per choice

    def choose(words, x):
        return words[min(int(x * len(words)), len(words) - 1)]

    sentences = []
    for i in range(n):
        animal, verb = choose(ANIMALS, u[i, 0]), choose(VERBS, u[i, 1])
        things = PLACES if verb == "cross" else PLACES + [a for a in ANIMALS if a != animal]
        thing = choose(things, u[i, 2])
        if u[i, 3] < 0.5:
            adj = choose(SUBJECT_ADJECTIVES, u[i, 4])
        else:
            allowed = OBJECT_ADJECTIVES if thing in PLACES else [a for a in OBJECT_ADJECTIVES if a not in PLACE_ONLY]
            adj = choose(allowed, u[i, 4])
        sentences.append(choose(orders, u[i, 5]).format(a=animal, v=verb, t=thing, j=adj))
    return moving_referent_task_of(sentences)


__all__ += ["WORD_ORDERS", "make_moving_referent_task", "moving_referent_task_of"]
