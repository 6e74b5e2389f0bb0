"""Generated toy tasks: small sentences and sequences whose answers need attention.

Every task is a :class:`Task`: token ids (n, T), one target per position (``IGNORE`` where nothing is
asked), the vocabularies, and for each *role* (a relation between two positions, such as "the word
before" or "what 'it' refers to") the key position the query should look at. The roles let
``mha.train.head_role_scores`` say which head does which job.

Everything is drawn from a seeded ``torch.Generator`` on the CPU, so the same seed gives the same task
on every machine. This module imports neither plotly nor ipywidgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = [
    "SEED_SENTENCE",
    "WIDE_SENTENCE",
    "IGNORE",
    "Task",
    "tokenize",
    "make_referent_task",
    "make_two_relation_task",
    "ANIMALS",
    "PLACES",
    "VERBS",
    "ANIMAL_ADJECTIVES",
    "PLACE_ADJECTIVES",
]

SEED_SENTENCE = "The animal didn't cross the street because it was too tired"
WIDE_SENTENCE = "The animal didn't cross the street because it was too wide"  # the seed's twin: "it" = the street
IGNORE = -100  # target for positions where nothing is asked (the value torch's cross_entropy skips)

ANIMALS = ["animal", "dog", "cat", "horse", "cow", "fox"]
PLACES = ["street", "road", "river", "bridge", "park", "field"]
VERBS = ["cross", "enter", "leave"]
ANIMAL_ADJECTIVES = ["tired", "sleepy", "old", "scared"]  # "it was too tired": it = the animal
PLACE_ADJECTIVES = ["wide", "busy", "long", "wet"]  # "it was too wide": it = the place

# positions in "the <animal> didn't <verb> the <place> because it was too <adj>"
ANIMAL_POS, VERB_POS, PLACE_POS, IT_POS, ADJ_POS = 1, 3, 5, 7, 10


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
    """

    name: str
    ids: torch.Tensor
    targets: torch.Tensor
    vocab: list[str]
    target_vocab: list[str]
    roles: dict[str, torch.Tensor]
    sentences: list[str] = field(default_factory=list)
    description: str = ""

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
    """Sentences in the seed's pattern, "the <animal> didn't <verb> the <place> because it was too <adj>".

    Two relations must be used at once:

    - **reference**: at the last word (the adjective) the answer is what "it" refers to. The adjective
      decides: "tired", "sleepy", ... -> the animal; "wide", "busy", ... -> the place. Only the adjective
      knows which, so in a one-layer model the adjective's row must look at the referent (position 1 or 5).
    - **previous word**: after the animal, the verb and the place ("didn't", "the", "because") the answer
      is the word just before (positions 1, 3, 5), a purely local, grammatical link.

    Returns a :class:`Task` with T = 11 and roles "reference" and "previous word".
    """
    _check_n(n)
    g = torch.Generator().manual_seed(seed)
    adjectives = ANIMAL_ADJECTIVES + PLACE_ADJECTIVES
    fixed = ["the", "didn't", "because", "it", "was", "too"]
    vocab = fixed + ANIMALS + VERBS + PLACES + adjectives
    pick = {  # (n,) random index into each word list
        name: torch.randint(len(words), (n,), generator=g)
        for name, words in (("animal", ANIMALS), ("verb", VERBS), ("place", PLACES), ("adj", adjectives))
    }
    sentences, ids = [], []
    for i in range(n):
        animal, verb = ANIMALS[pick["animal"][i]], VERBS[pick["verb"][i]]
        place, adj = PLACES[pick["place"][i]], adjectives[pick["adj"][i]]
        s = f"the {animal} didn't {verb} the {place} because it was too {adj}"
        sentences.append(s)
        ids.append([vocab.index(w) for w in s.split()])
    ids = torch.tensor(ids)  # (n, T)
    n_, T = ids.shape
    targets = torch.full((n_, T), IGNORE)
    refers_to_animal = pick["adj"] < len(ANIMAL_ADJECTIVES)  # (n,)
    referent_pos = torch.where(refers_to_animal, ANIMAL_POS, PLACE_POS)  # (n,)
    targets[:, ADJ_POS] = ids[torch.arange(n_), referent_pos]
    for q in (ANIMAL_POS + 1, VERB_POS + 1, PLACE_POS + 1):
        targets[:, q] = ids[:, q - 1]
    reference = torch.full((n_, T), -1)
    reference[:, ADJ_POS] = referent_pos
    previous = torch.full((n_, T), -1)
    for q in (ANIMAL_POS + 1, VERB_POS + 1, PLACE_POS + 1):
        previous[:, q] = q - 1
    return Task(
        name="referent",
        ids=ids,
        targets=targets,
        vocab=vocab,
        target_vocab=vocab,
        roles={"reference": reference, "previous word": previous},
        sentences=sentences,
        description="at the adjective: what 'it' refers to; after animal, verb and place: the word before",
    )


def make_two_relation_task(n: int, seed: int = 0, seq_len: int = 8, num_symbols: int = 6) -> Task:
    """Sequences of random symbols where every position needs two things at once.

    At each position t >= 1 the answer is the *pair* (symbol at t-1, symbol at 0): one thing from the
    neighbour, one from the first (the "topic") symbol, which is far away. A head that attends to both
    places hands on a blend of two symbols and cannot say which came from where; two heads can each
    fetch one. Answers are the num_symbols**2 pairs, written "ab" (neighbour a, topic b).

    Returns a :class:`Task` with roles "neighbour" (t -> t-1) and "topic" (t -> 0).
    """
    _check_n(n)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise ValueError(f"seq_len must be an int >= 3, got {seq_len!r}")
    if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or not 2 <= num_symbols <= 26:
        raise ValueError(f"num_symbols must be an int from 2 to 26, got {num_symbols!r}")
    g = torch.Generator().manual_seed(seed)
    vocab = [chr(ord("A") + i) for i in range(num_symbols)]
    target_vocab = [a + b for a in vocab for b in vocab]  # pair (a, b) has id a * num_symbols + b
    ids = torch.randint(num_symbols, (n, seq_len), generator=g)  # (n, T)
    targets = torch.full((n, seq_len), IGNORE)
    targets[:, 1:] = ids[:, :-1] * num_symbols + ids[:, :1]  # (neighbour, topic)
    positions = torch.arange(seq_len).expand(n, seq_len)  # (n, T)
    neighbour = torch.where(positions >= 1, positions - 1, -1)
    topic = torch.where(positions >= 1, 0, -1)
    return Task(
        name="two relations",
        ids=ids,
        targets=targets,
        vocab=vocab,
        target_vocab=target_vocab,
        roles={"neighbour": neighbour, "topic": topic},
        sentences=[" ".join(vocab[i] for i in row) for row in ids.tolist()],
        description="at each position t >= 1: the pair (symbol at t-1, symbol at 0)",
    )
