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
    "SUBJECT_ADJECTIVES",
    "OBJECT_ADJECTIVES",
]

SEED_SENTENCE = "The animal didn't cross the street because it was too tired"
WIDE_SENTENCE = "The animal didn't cross the street because it was too wide"  # the seed's twin: "it" = the street
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
    """Sentences in the seed's pattern, "the <animal> didn't <verb> the <thing> because it was too <adj>".

    The <thing> is a place ("street", "river", ...) or, after "reach" and "follow", another animal.
    At the last word (the adjective) the model answers two questions at once, as a pair "noun, verb":

    - **reference**: what does "it" refer to? The adjective decides: "tired", "sleepy", ... -> the animal
      (position 1); "wide", "far", ... -> the thing (position 5). Only the adjective knows which, so in a
      one-layer model the adjective's row of attention is where "it" gets resolved. Both nouns can be
      animals, so the answer needs a look at the right one.
    - **verb**: what did it not do? The verb (position 3), a fixed grammatical link in the sentence.

    The seed's sentence "... too tired" has the answer "animal, cross"; its twin "... too wide" has
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
