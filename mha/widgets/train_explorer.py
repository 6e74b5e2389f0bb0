"""Explorer 3: train the toy model of notebook 6 with your h and d_model, then switch heads off."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from mha import explorers, train, viz
from mha.data import EXAMPLE_SENTENCE
from mha.explorers import EXPLORER_SETTINGS
from mha.widgets.base import Explorer, SettingError, int_setting, slider, train_with_progress

__all__ = ["TrainExplorer"]

# ---------------------------------------------------------------- 3. training


def training_figure_parts(result, heads_on=None) -> viz.FigureParts:
    """The figure of a trained toy model: loss, accuracy with heads switched off, the heads on the example sentence."""
    task = explorers.explorer_task("test")  # accuracies on sentences the model has not seen
    h = result.num_heads
    heads_on = [True] * h if heads_on is None else list(heads_on)
    tokens = EXAMPLE_SENTENCE.lower().split()
    weights = train.attention_weights(result, task.encode(tokens))[0]  # (h, T, T)
    everything = train.evaluate(result, task)
    ablation = explorers.head_ablation(result, task)
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


class TrainExplorer(Explorer):
    """Train the toy model of notebook 6 with the chosen num_heads and d_model, in a few seconds, then show
    its loss curve, each head's pattern on the example sentence and its accuracy; switch heads off to see
    what each one was doing (``head_mask``).

    The task is notebook 6's (``mha.data.make_referent_task``): at the adjective, what "it" refers to and the
    verb, two words to look at. Accuracies are on new sentences. A run is remembered, so coming back to a
    setting, or switching heads, is instant.
    """

    defaults = {
        "num_heads": 4,
        "d_model": 16,
        "head_mask": None,
        "steps": EXPLORER_SETTINGS.steps,
        "seed": EXPLORER_SETTINGS.seed,
    }

    def __init__(
        self,
        num_heads: int = 4,
        d_model: int = 16,
        head_mask=None,
        steps: int = EXPLORER_SETTINGS.steps,
        seed: int = EXPLORER_SETTINGS.seed,
    ):
        self.progress = widgets.IntProgress(value=0, min=0, max=steps, description="training", bar_style="info")
        self._switch_box = widgets.HBox()
        super().__init__(num_heads=num_heads, d_model=d_model, head_mask=head_mask, steps=steps, seed=seed)

    def _make_controls(self):
        return {"num_heads": slider("num_heads (h)", 4, 1, 8), "d_model": slider("d_model", 16, 8, 64, 8)}

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
            return int_setting(name, value, high={"num_heads": 16, "d_model": 256, "steps": 2000}[name])
        if name == "seed":
            return int_setting(name, value, low=0)
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
        return training_figure_parts(result, [bool(m) for m in mask])

    def _slow_to_draw(self, params):
        p = {**self.defaults, **params}
        return not explorers.is_trained(p["num_heads"], p["d_model"], p["steps"], p["seed"])

    def _train(self, h, d_model, steps, seed):
        if explorers.is_trained(h, d_model, steps, seed):
            self.progress.max, self.progress.value, self.progress.bar_style = steps, steps, "success"
            return explorers.trained_model(h, d_model, steps, seed)
        return train_with_progress(self.progress, h, d_model, steps, seed)

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
            self._watch_controls()
        self._syncing = True
        try:
            for switch, on in zip(switches, mask):
                switch.value = bool(on)
        finally:
            self._syncing = False

    def _move_controls(self):
        return super()._move_controls() + list(self._switch_box.children)

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
    def static_figure(
        head_counts=(1, 2, 4),
        d_model: int = 16,
        steps: int = EXPLORER_SETTINGS.steps,
        seed: int = EXPLORER_SETTINGS.seed,
    ):
        """The explorer without a kernel: a slider over precomputed training runs, one per head count."""
        figures = {}
        with train.one_thread():  # tiny tensor work: one CPU thread is fastest
            for h in head_counts:
                figures[h] = viz.parts_figure(*training_figure_parts(explorers.trained_model(h, d_model, steps, seed)))
        return viz.controls_figure(figures, "num_heads", active=head_counts[-1])
