"""Explorer 2: every head's attention on a sentence, random or trained weights, one token's view."""

from __future__ import annotations

import ipywidgets as widgets

from mha import explorers, train, viz
from mha.data import EXAMPLE_SENTENCE
from mha.explorers import EXPLORER_SETTINGS, random_heads_weights
from mha.widgets.base import Explorer, SettingError, int_setting, slider, train_with_progress

__all__ = ["HeadExplorer"]

# ---------------------------------------------------------------- 2. heads on a sentence


class HeadExplorer(Explorer):
    """A sentence through a MultiHeadAttention of the chosen num_heads and d_model: one heatmap per head,
    and a head view of the chosen token (lines to the tokens it attends to; thicker = more weight).

    weights="random": freshly initialised heads (``seed`` picks them) on made-up word embeddings.
    weights="trained": the toy model of notebook 6 (``mha.train``), whose vocabulary is small: the sentence
    must use its words (the example sentence does); training happens once per setting, in a few seconds.
    """

    defaults = {
        "sentence": EXAMPLE_SENTENCE,
        "num_heads": 4,
        "d_model": 32,
        "weights": "random",
        "token": "it",
        "seed": 0,
    }

    def __init__(
        self,
        sentence: str = EXAMPLE_SENTENCE,
        num_heads: int = 4,
        d_model: int = 32,
        weights: str = "random",
        token: str = "it",
        seed: int = 0,
    ):
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=EXPLORER_SETTINGS.steps,
            description="training",
            bar_style="info",
            layout={"display": "none"},
        )
        super().__init__(
            sentence=sentence, num_heads=num_heads, d_model=d_model, weights=weights, token=token, seed=seed
        )

    def _make_controls(self):
        return {
            "sentence": widgets.Text(
                value=EXAMPLE_SENTENCE,
                description="sentence",
                continuous_update=False,
                layout=widgets.Layout(width="640px"),
            ),
            "token": widgets.Dropdown(options=EXAMPLE_SENTENCE.split(), value="it", description="token"),
            "num_heads": slider("num_heads (h)", 4, 1, 8),
            "d_model": slider("d_model", 32, 4, 128, 4),
            "weights": widgets.ToggleButtons(options=["random", "trained"], value="random", description="weights"),
            "seed": widgets.BoundedIntText(value=0, min=0, max=10_000, description="seed", layout={"width": "160px"}),
        }

    def _control_box(self):
        c = self.controls
        return widgets.VBox(
            [
                widgets.HBox([c["sentence"], c["token"]]),
                widgets.HBox([c["num_heads"], c["d_model"]]),
                widgets.HBox([c["weights"], c["seed"], self.progress]),
            ]
        )

    def _check(self, name, value):
        if name in ("num_heads", "d_model"):
            return int_setting(name, value)
        if name == "seed":
            return int_setting(name, value, low=0)
        if name == "weights" and value not in ("random", "trained"):
            raise SettingError(f"weights must be 'random' or 'trained', got {value!r}")
        if name == "sentence":
            if not isinstance(value, str) or not value.split():
                raise SettingError("type a sentence of at least one word")
            if len(value.split()) > 40:
                raise SettingError(f"the sentence has {len(value.split())} words; keep it to 40 or fewer")
            value = " ".join(value.split())
        if name == "token" and not isinstance(value, str):
            raise SettingError(f"token must be one word of the sentence, got {value!r}")
        return value

    def _tokens(self, p):
        return p["sentence"].split() if p["weights"] == "random" else p["sentence"].lower().split()

    def _draw(self, p):
        tokens = self._tokens(p)
        self._check_divisible(p["d_model"], p["num_heads"])
        if p["weights"] == "random":
            self.progress.layout.display = "none"  # shown only while (and after) trained weights train
            weights = random_heads_weights(tokens, p["d_model"], p["num_heads"], p["seed"])  # (h, T, T)
        else:
            weights = self._trained_weights(tokens, p)
        title = heads_title(p["weights"], p["num_heads"], p["d_model"])
        return viz.head_view_parts(weights, tokens, self._query(tokens, p), title=title)

    def _query(self, tokens, p) -> int:
        """The index of the chosen token; an unknown one falls back to 'it' or the last word."""
        wanted = str(p["token"]).lower()
        lower = [t.lower() for t in tokens]
        if wanted in lower:
            return lower.index(wanted)
        return lower.index("it") if "it" in lower else len(tokens) - 1

    def _trained_weights(self, tokens, p):
        task = explorers.explorer_task()
        unknown = [t for t in tokens if t not in task.vocab]
        if unknown:
            raise SettingError(
                f"the trained toy model only knows its {task.vocab_size} words, and not {', '.join(unknown)}. "
                f"Use a sentence like '{task.sentences[0]}', or switch weights to random."
            )
        if len(tokens) > task.seq_len:
            raise SettingError(f"the trained toy model reads at most {task.seq_len} words, got {len(tokens)}")
        result = train_with_progress(
            self.progress, p["num_heads"], p["d_model"], EXPLORER_SETTINGS.steps, EXPLORER_SETTINGS.seed
        )
        return train.attention_weights(result, task.encode(tokens))[0]  # (h, T, T)

    def _sync_controls(self):
        tokens = self._tokens(self.params)
        self.params["token"] = tokens[self._query(tokens, self.params)]  # the word the figure shows
        self._syncing = True
        try:
            options = list(dict.fromkeys(tokens))  # each word once
            if list(self.controls["token"].options) != options:
                self.controls["token"].options = options
        finally:
            self._syncing = False
        super()._sync_controls()

    @staticmethod
    def static_figure(
        sentence: str = EXAMPLE_SENTENCE, d_models=(64,), head_counts=(1, 2, 4, 8), token: str = "it", seed: int = 0
    ):
        """The explorer without a kernel: random heads for each num_heads (slider) and d_model (buttons, if several).

        One d_model by default: each extra one adds a full set of figures to the page.
        """
        tokens = sentence.split()
        query = tokens.index(token) if token in tokens else len(tokens) - 1
        figures = {}
        for d in d_models:
            for h in head_counts:
                weights = random_heads_weights(tokens, d, h, seed)  # (h, T, T)
                figures[(d, h)] = viz.head_view_figure(weights, tokens, query, title=heads_title("random", h, d))
        active = (d_models[-1], 4 if 4 in head_counts else head_counts[0])
        if len(d_models) == 1:
            return viz.controls_figure({h: f for (_, h), f in figures.items()}, "num_heads", active=active[1])
        return viz.controls_figure(figures, "num_heads", "d_model", active=active)


def heads_title(kind: str, num_heads: int, d_model: int) -> str:
    """ "4 random heads, d_model = 32, d_k = 8": the title of a head view (kind: "random" or "trained")."""
    return f"{num_heads} {kind} head{'s' if num_heads > 1 else ''}, d_model = {d_model}, d_k = {d_model // num_heads}"
