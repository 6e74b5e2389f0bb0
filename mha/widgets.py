"""Interactive explorers: sliders that change num_heads, d_model and the sentence, and redraw at once.

Each explorer has ``set(**params)`` (changes settings and redraws, synchronously), ``figure`` (the current
plotly figure), ``message`` ("" when the settings are valid, else what is wrong and what would work) and
``widget`` (the ipywidgets box to display; the explorer itself displays as that box). A bad setting never
raises into the notebook: it shows a message and keeps the last good figure.

Figures are plain ``go.Figure`` objects drawn into an ``ipywidgets.Output`` by the course's renderer, so they
work in JupyterLab, Notebook 7, classic Notebook, VS Code and Colab. Each explorer also has ``static_figure()``:
a plotly figure with sliders over precomputed settings, which works on a page with no kernel (the rendered book).

In a front end: an explorer's output carries, next to the widget, a short HTML note ("Run this cell to start
the explorer") that front ends show when the widget itself cannot be shown (a notebook opened before its kernel
has run); anything that takes longer than half a second (training) shows a progress bar that starts at zero
once the explorer is on the screen.

This module only wires controls to what lies below it: the figures come from ``mha.viz``, the made-up
embeddings of random heads from ``mha.data``, the trained toy models and their settings from ``mha.train``.
"""

from __future__ import annotations

import html
import math
import operator

import ipywidgets as widgets
import torch

from mha import train, viz
from mha.data import EXAMPLE_SENTENCE, random_heads_weights
from mha.validate import check_positive_int, valid_head_counts

__all__ = ["ShapeExplorer", "HeadExplorer", "TrainExplorer", "EXAMPLE_SENTENCE", "head_count_message"]

TRAINING = train.EXPLORER_SETTINGS  # how TrainExplorer and HeadExplorer(weights="trained") train

# What a front end shows in place of an explorer whose widget it cannot show (no kernel has run the cell yet).
NOT_STARTED_HTML = (
    '<div class="mha-explorer-not-started" style="padding:6px 10px;border:1px dashed #999;border-radius:4px">'
    "Run this cell to start the explorer.</div>"
)


def head_count_message(d_model: int, num_heads: int, d_model_step: int = 1) -> str:
    """A friendly explanation of why d_model cannot be cut into num_heads heads, with the nearest valid choices.

    d_model_step: the d_model slider's step; the d_model values suggested are multiples of it.
    """
    heads = valid_head_counts(d_model)
    below = [h for h in heads if h < num_heads]
    above = [h for h in heads if h > num_heads]
    near_heads = " or ".join(str(h) for h in (below[-1:] + above[:1]))
    unit = math.lcm(num_heads, d_model_step)  # a d_model both the slider and num_heads allow
    lower = d_model // unit * unit
    near_widths = " or ".join(str(d) for d in (lower, lower + unit) if d > 0)
    return (
        f"d_model = {d_model} cannot be cut into {num_heads} heads of equal width: {d_model} / {num_heads} = "
        f"{d_model / num_heads:.4g} is not a whole number. Try num_heads = {near_heads}, or keep {num_heads} heads "
        f"with d_model = {near_widths}."
    )


class SettingError(ValueError):
    """A setting an explorer cannot draw; its text is shown to the learner."""


def _int_setting(name: str, value, low: int = 1, high: int | None = None) -> int:
    """``mha.validate.check_positive_int`` for a setting (NumPy ints too): a SettingError if it fails."""
    try:
        if not isinstance(value, bool) and hasattr(value, "__index__"):
            value = operator.index(value)  # e.g. numpy.int64(4) -> 4
        return check_positive_int(name, value, low, high)
    except (TypeError, ValueError) as err:
        raise SettingError(str(err)) from None


class _Explorer:
    """The shared machinery: settings, controls kept in step with them, the message and the figure."""

    defaults: dict = {}

    def __init__(self, **params):
        self._parts = None  # (data, layout) of the current figure
        self._figure = None
        self._pending: dict | None = None  # settings whose first drawing waits until the explorer is displayed
        self.message = ""
        self.params = dict(self.defaults)
        self._syncing = False
        self._output = widgets.Output(layout=widgets.Layout(min_height="300px"))
        self._message_box = widgets.HTML()
        self.controls = self._make_controls()
        for control in self.controls.values():
            control.observe(self._on_control, names="value")
        self.widget = widgets.VBox([self._control_box(), self._message_box, self._output])
        if self._slow_to_draw(params):  # draw once on the screen, so its progress is seen from the start
            self._pending = params
            self.params.update(params)
            self._sync_controls()
        else:
            self.set(**params)

    def _slow_to_draw(self, params: dict) -> bool:
        """Whether drawing ``params`` first takes long enough to show progress (then it waits for the display)."""
        return False

    # -- to be filled in by each explorer
    def _make_controls(self) -> dict:
        raise NotImplementedError

    def _control_box(self):
        return widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap"))

    def _check(self, name: str, value):
        """The value to store for setting ``name`` (raise SettingError if it is not acceptable on its own)."""
        return value

    def _draw(self, params: dict) -> viz.FigureParts:
        """The (data, layout) of the figure for ``params`` (raise SettingError if it cannot be drawn)."""
        raise NotImplementedError

    def _check_divisible(self, d_model: int, num_heads: int) -> None:
        """A SettingError naming the nearest valid choices unless num_heads divides d_model."""
        if d_model % num_heads:
            raise SettingError(head_count_message(d_model, num_heads, self.controls["d_model"].step))

    @property
    def figure(self):
        """The current figure, a plotly go.Figure (None before the first valid setting)."""
        self.start()
        if self._figure is None and self._parts is not None:
            self._figure = viz.parts_figure(*self._parts)
        return self._figure

    # -- shared
    def set(self, **params):
        """Change settings (any of ``self.params``' names) and redraw now; returns the explorer.

        A setting that cannot be drawn sets ``message`` and keeps the last good figure; nothing is raised.
        """
        if self._pending is not None:
            params, self._pending = {**self._pending, **params}, None
        try:
            unknown = sorted(set(params) - set(self.defaults))
            if unknown:
                raise SettingError(f"unknown setting {', '.join(unknown)}; the settings are {', '.join(self.defaults)}")
            for name, value in params.items():  # each value alone: a bad one is not stored
                self.params[name] = self._check(name, value)
            with train.one_thread():  # tiny tensor work: one CPU thread is fastest
                parts = self._draw(dict(self.params))
        except SettingError as err:
            self._show_message(str(err))
        except Exception as err:  # never let a traceback reach the learner's screen
            self._show_message(f"Something went wrong: {type(err).__name__}: {err}")
        else:
            self._parts, self._figure = parts, None
            self._output.outputs = (
                {"output_type": "display_data", "data": viz.display_bundle(*parts), "metadata": {}},
            )
            self._show_message("")
        self._sync_controls()
        return self

    def start(self):
        """Draw the first figure now if it waits for the display (``TrainExplorer``'s first training run)."""
        if self._pending is not None:
            self.set()
        return self

    def _show_message(self, text: str) -> None:
        self.message = text
        if text and self._parts is not None:
            text += " (The figure below still shows the last valid setting.)"
        style = "background:#fff3cd;color:#664d03;padding:6px 10px;border-radius:4px"
        self._message_box.value = f'<div style="{style}">{html.escape(text)}</div>' if text else ""

    def _sync_controls(self) -> None:
        """Show the current settings on the controls without triggering a redraw."""
        self._syncing = True
        try:
            for name, control in self.controls.items():
                value = self.params.get(name)
                try:
                    if isinstance(control, widgets.IntSlider) and isinstance(value, int):
                        control.max, control.min = max(control.max, value), min(control.min, value)
                    if value is not None and control.value != value:
                        control.value = value
                except Exception:  # a control that cannot show a value keeps its own
                    pass
        finally:
            self._syncing = False

    def _on_control(self, change) -> None:
        if self._syncing:
            return
        name = next(n for n, c in self.controls.items() if c is change["owner"])
        try:
            self.set(**{name: change["new"]})
        except Exception as err:  # set() catches everything already; this is a last guard for the UI
            self._show_message(f"Something went wrong: {err}")

    def _repr_mimebundle_(self, **kwargs):
        """Display as the widget, with a short text form (what nbval compares) that depends only on the settings,
        and ``NOT_STARTED_HTML`` for front ends that cannot show the widget (no kernel has run the cell yet)."""
        if hasattr(self.widget, "_repr_mimebundle_"):  # ipywidgets 8
            bundle = self.widget._repr_mimebundle_(**kwargs)
        else:  # ipywidgets 7 (still Colab's): the same view, built by hand
            view = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
            bundle = {"application/vnd.jupyter.widget-view+json": view}
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = NOT_STARTED_HTML
        return bundle

    def _ipython_display_(self):
        """Show the explorer, then draw a first figure that waited for it (its progress bar starts at zero)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        self.start()

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({settings})"


def _slider(description: str, value: int, low: int, high: int, step: int = 1):
    return widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


# ---------------------------------------------------------------- 1. shapes


class ShapeExplorer(_Explorer):
    """Sliders for d_model, num_heads and the sequence length; a figure of every tensor's shape in the layer.

    The figure shows X, Q/K/V cut into heads, the weights, each Z_i, the concatenation and the output, with
    d_k, the parameter count and the FLOPs. d_model not divisible by num_heads gives a message naming the
    nearest valid choices (``mha.valid_head_counts``) and keeps the last figure.
    """

    defaults = {"d_model": 64, "num_heads": 8, "seq_len": 11}

    def __init__(self, d_model: int = 64, num_heads: int = 8, seq_len: int = 11):
        super().__init__(d_model=d_model, num_heads=num_heads, seq_len=seq_len)

    def _make_controls(self):
        return {
            "d_model": _slider("d_model", 64, 4, 256, 4),
            "num_heads": _slider("num_heads (h)", 8, 1, 16),
            "seq_len": _slider("tokens (T)", 11, 1, 32),
        }

    def _check(self, name, value):
        return _int_setting(name, value)

    def _draw(self, p):
        self._check_divisible(p["d_model"], p["num_heads"])
        return viz.shape_parts(p["d_model"], p["num_heads"], p["seq_len"])

    @staticmethod
    def static_figure(d_models=(32, 64, 128), head_counts=(1, 2, 4, 8), seq_len: int = 11):
        """The explorer without a kernel: buttons for d_model, a slider for num_heads, over precomputed figures."""
        figures = {(d, h): viz.shape_figure(d, h, seq_len) for d in d_models for h in head_counts}
        active = (64 if 64 in d_models else d_models[0], 4 if 4 in head_counts else head_counts[0])
        return viz.controls_figure(figures, "num_heads", "d_model", active=active)


# ---------------------------------------------------------------- 2. heads on a sentence


class HeadExplorer(_Explorer):
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
            value=0, min=0, max=TRAINING.steps, description="training", bar_style="info", layout={"display": "none"}
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
            "num_heads": _slider("num_heads (h)", 4, 1, 8),
            "d_model": _slider("d_model", 32, 4, 128, 4),
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
            return _int_setting(name, value)
        if name == "seed":
            return _int_setting(name, value, low=0)
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
        title = _heads_title(p["weights"], p["num_heads"], p["d_model"])
        return viz.head_view_parts(weights, tokens, self._query(tokens, p), title=title)

    def _query(self, tokens, p) -> int:
        """The index of the chosen token; an unknown one falls back to 'it' or the last word."""
        wanted = str(p["token"]).lower()
        lower = [t.lower() for t in tokens]
        if wanted in lower:
            return lower.index(wanted)
        return lower.index("it") if "it" in lower else len(tokens) - 1

    def _trained_weights(self, tokens, p):
        task = train.explorer_task()
        unknown = [t for t in tokens if t not in task.vocab]
        if unknown:
            raise SettingError(
                f"the trained toy model only knows its {task.vocab_size} words, and not {', '.join(unknown)}. "
                f"Use a sentence like '{task.sentences[0]}', or switch weights to random."
            )
        if len(tokens) > task.seq_len:
            raise SettingError(f"the trained toy model reads at most {task.seq_len} words, got {len(tokens)}")
        result = _train_with_progress(self.progress, p["num_heads"], p["d_model"], TRAINING.steps, TRAINING.seed)
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
                figures[(d, h)] = viz.head_view_figure(weights, tokens, query, title=_heads_title("random", h, d))
        active = (d_models[-1], 4 if 4 in head_counts else head_counts[0])
        if len(d_models) == 1:
            return viz.controls_figure({h: f for (_, h), f in figures.items()}, "num_heads", active=active[1])
        return viz.controls_figure(figures, "num_heads", "d_model", active=active)


def _train_with_progress(progress, h, d_model, steps, seed):
    """``train.trained_model``, with ``progress`` (an IntProgress) shown from zero while a new run trains.

    A remembered run returns at once and leaves ``progress`` as it is.
    """
    if train.is_trained(h, d_model, steps, seed):
        return train.trained_model(h, d_model, steps, seed)
    progress.max, progress.value, progress.bar_style = steps, 0, "info"
    progress.layout.display = None  # shown (HeadExplorer keeps it hidden until it trains)

    def moved(step, loss):
        if (step + 1) % 5 == 0 or step + 1 == steps:
            progress.value = step + 1

    result = train.trained_model(h, d_model, steps, seed, callback=moved)
    progress.value, progress.bar_style = steps, "success"
    return result


def _heads_title(kind: str, num_heads: int, d_model: int) -> str:
    """ "4 random heads, d_model = 32, d_k = 8": the title of a head view (kind: "random" or "trained")."""
    return f"{num_heads} {kind} head{'s' if num_heads > 1 else ''}, d_model = {d_model}, d_k = {d_model // num_heads}"


# ---------------------------------------------------------------- 3. training


def _training_parts(result, heads_on=None) -> viz.FigureParts:
    """The figure of a trained toy model: loss, accuracy with heads switched off, the heads on the example sentence."""
    task = train.explorer_task("test")  # accuracies on sentences the model has not seen
    h = result.num_heads
    heads_on = [True] * h if heads_on is None else list(heads_on)
    tokens = EXAMPLE_SENTENCE.lower().split()
    weights = train.attention_weights(result, task.encode(tokens))[0]  # (h, T, T)
    everything = train.evaluate(result, task)
    ablation = train.head_ablation(result, task)
    if not all(heads_on) and sum(not on for on in heads_on) > 1:
        chosen = train.evaluate(result, task, head_mask=torch.tensor(heads_on, dtype=torch.float32))
        on = ",".join(str(i + 1) for i, b in enumerate(heads_on) if b)
        ablation[f"heads {on} on" if on else "no head on"] = chosen  # short: a bar's label must fit under the plot
    elif not all(heads_on):
        chosen = ablation[f"without head {heads_on.index(False) + 1}"]
    else:
        chosen = everything
    chosen = round(chosen, 3)  # as the bars show it
    title = f"{h} head{'s' if h > 1 else ''}, d_model = {result.d_model}: accuracy {chosen:.0%} "
    title += f"with {sum(heads_on)} of {h} heads on"
    return viz.training_parts(result.losses, weights, tokens, everything, ablation, title, heads_on)


class TrainExplorer(_Explorer):
    """Train the toy model of notebook 6 with the chosen num_heads and d_model, in a few seconds, then show
    its loss curve, each head's pattern on the example sentence and its accuracy; switch heads off to see
    what each one was doing (``head_mask``).

    The task is notebook 6's (``mha.data.make_referent_task``): at the adjective, what "it" refers to and the
    verb, two words to look at. Accuracies are on new sentences. A run is remembered, so coming back to a
    setting, or switching heads, is instant.
    """

    defaults = {"num_heads": 4, "d_model": 16, "head_mask": None, "steps": TRAINING.steps, "seed": TRAINING.seed}

    def __init__(
        self,
        num_heads: int = 4,
        d_model: int = 16,
        head_mask=None,
        steps: int = TRAINING.steps,
        seed: int = TRAINING.seed,
    ):
        self.progress = widgets.IntProgress(value=0, min=0, max=steps, description="training", bar_style="info")
        self._switch_box = widgets.HBox()
        super().__init__(num_heads=num_heads, d_model=d_model, head_mask=head_mask, steps=steps, seed=seed)

    def _make_controls(self):
        return {"num_heads": _slider("num_heads (h)", 4, 1, 8), "d_model": _slider("d_model", 16, 8, 64, 8)}

    def _control_box(self):
        switches = widgets.HBox([widgets.Label("heads switched on:"), self._switch_box])
        return widgets.VBox([widgets.HBox(list(self.controls.values()) + [self.progress]), switches])

    def set(self, **params):
        """As for every explorer; a new num_heads switches every head back on unless head_mask is given."""
        if "num_heads" in params and "head_mask" not in params:
            params["head_mask"] = None
        return super().set(**params)

    def _check(self, name, value):
        if name in ("num_heads", "d_model", "steps"):
            return _int_setting(name, value, high={"num_heads": 16, "d_model": 256, "steps": 2000}[name])
        if name == "seed":
            return _int_setting(name, value, low=0)
        if name == "head_mask":
            if value is None:
                return None
            try:
                mask = [float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
            except (TypeError, ValueError):
                raise SettingError(f"head_mask must be a list of 0s and 1s, one per head, got {value!r}") from None
            if any(v not in (0.0, 1.0) for v in mask):
                raise SettingError(f"head_mask must hold only 0 (head off) and 1 (head on), got {value!r}")
            return [int(v) for v in mask]
        return value

    def _draw_training(self, p):
        h, d_model = p["num_heads"], p["d_model"]
        self._check_divisible(d_model, h)
        mask = [1] * h if p["head_mask"] is None else p["head_mask"]
        if len(mask) != h:
            raise SettingError(f"head_mask needs one entry per head (num_heads = {h}), got {len(mask)}: {mask}")
        result = self._train(h, d_model, p["steps"], p["seed"])
        return _training_parts(result, [bool(m) for m in mask])

    def _slow_to_draw(self, params):
        p = {**self.defaults, **params}
        return not train.is_trained(p["num_heads"], p["d_model"], p["steps"], p["seed"])

    def _train(self, h, d_model, steps, seed):
        if train.is_trained(h, d_model, steps, seed):
            self.progress.max, self.progress.value, self.progress.bar_style = steps, steps, "success"
            return train.trained_model(h, d_model, steps, seed)
        return _train_with_progress(self.progress, h, d_model, steps, seed)

    def _draw(self, p):
        parts = self._draw_training(p)
        self._drawn_mask = [1] * p["num_heads"] if p["head_mask"] is None else list(p["head_mask"])
        return parts

    def _sync_controls(self):
        super()._sync_controls()
        # the switches always match the figure's heads: after a setting that could not be drawn, those of the
        # figure still shown (the sliders show what was asked for, and the message says the figure is older)
        mask = getattr(self, "_drawn_mask", None) if self.message else None
        if mask is None:
            h = self.params["num_heads"]
            mask = self.params["head_mask"] or [1] * h
            if len(mask) != h:
                mask = [1] * h
        h = len(mask)
        switches = list(self._switch_box.children)
        if len(switches) != h:
            switches = [
                widgets.ToggleButton(value=True, description=f"head {i + 1}", layout={"width": "80px"})
                for i in range(h)
            ]
            for switch in switches:
                switch.observe(self._on_switch, names="value")
            self._switch_box.children = switches
        self._syncing = True
        try:
            for switch, on in zip(switches, mask):
                switch.value = bool(on)
        finally:
            self._syncing = False

    def _on_switch(self, change):
        if self._syncing:
            return
        try:
            mask = [int(s.value) for s in self._switch_box.children]
            if self.message and len(mask) != self.params["num_heads"]:  # switches of the figure still shown
                self.set(num_heads=len(mask), head_mask=mask)
            else:
                self.set(head_mask=mask)
        except Exception as err:  # set() catches everything already; this is a last guard for the UI
            self._show_message(f"Something went wrong: {err}")

    @staticmethod
    def static_figure(head_counts=(1, 2, 4), d_model: int = 16, steps: int = TRAINING.steps, seed: int = TRAINING.seed):
        """The explorer without a kernel: a slider over precomputed training runs, one per head count."""
        figures = {}
        with train.one_thread():  # tiny tensor work: one CPU thread is fastest
            for h in head_counts:
                figures[h] = viz.parts_figure(*_training_parts(train.trained_model(h, d_model, steps, seed)))
        return viz.controls_figure(figures, "num_heads", active=head_counts[-1])
