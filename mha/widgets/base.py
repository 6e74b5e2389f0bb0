"""What every explorer shares: the settings check, the message instead of a traceback, the figure
redrawn in its figure pane (or Output widget, see ``figure_pane``), the note shown before the kernel runs, and the
training settings.
"""

from __future__ import annotations

import html
import operator
import time

import ipywidgets as widgets

from mha import explorers, train, viz
from mha.validate import check_divisible, check_positive_int
from mha.widgets import figure_pane

__all__ = [
    "NOT_STARTED_HTML",
    "Explorer",
    "SettingError",
    "int_setting",
    "slider",
    "train_with_progress",
]


# What a front end shows in place of an explorer whose widget it cannot show (no kernel has run the cell yet).
NOT_STARTED_HTML = (
    '<div class="mha-explorer-not-started" style="padding:6px 10px;border:1px dashed #999;border-radius:4px">'
    "Run this cell to start the explorer.</div>"
)

# While the kernel draws a new figure, the old one is dimmed: the learner sees at once that the move was taken,
# even where the browser needs a few hundred milliseconds to draw the new figure (8 heads in classic Notebook).
# The new figure is sent at least BUSY_PAINT_S after the dimming, so that the browser has an animation frame to
# show the dimming in before it spends its time drawing (at 60 frames a second, a frame is 17 ms).
BUSY_STYLE = f"<style>.{figure_pane.BUSY_CLASS} {{ opacity: 0.45; }}</style>"
BUSY_PAINT_S = 0.025


class SettingError(ValueError):
    """A setting an explorer cannot draw; its text is shown to the learner."""


def int_setting(name: str, value, low: int = 1, high: int | None = None) -> int:
    """``mha.validate.check_positive_int`` for a setting (NumPy ints too): a SettingError if it fails."""
    try:
        if not isinstance(value, bool) and hasattr(value, "__index__"):
            value = operator.index(value)  # e.g. numpy.int64(4) -> 4
        return check_positive_int(name, value, low, high)
    except (TypeError, ValueError) as err:
        raise SettingError(str(err)) from None


class Explorer:
    """The shared machinery: settings, controls kept in step with them, the message and the figure."""

    defaults: dict = {}

    def __init__(self, **params):
        self._parts = None  # (data, layout) of the current figure
        self._figure = None
        self._pending: dict | None = None  # settings whose first drawing waits until the explorer is displayed
        self._shown = False  # whether a front end has been asked to show the explorer
        self.message = ""
        self.params = dict(self.defaults)
        self._syncing = False
        self._output = _figure_view()  # where the figure is drawn
        self._message_box = widgets.HTML(BUSY_STYLE)  # the message, and the style of a dimmed figure
        self.controls = self._make_controls()
        self._watch_controls()
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
        try:
            check_divisible(d_model, num_heads, self.controls["d_model"].step)
        except ValueError as error:
            raise SettingError(str(error)) from None

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
            dimmed = time.perf_counter()
            figure_pane.set_busy(self._output, True)  # dim the old figure first: the front end shows it at once
            with train.one_thread():  # tiny tensor work: one CPU thread is fastest
                parts = self._draw(dict(self.params))
            shown = viz.figure_json(*parts) if self._in_pane() else viz.display_bundle(*parts)
        except SettingError as err:
            self._show_message(str(err))
        except Exception as err:  # never let a traceback reach the learner's screen
            self._show_message(f"Something went wrong: {type(err).__name__}: {err}")
        else:
            if self._shown:  # a front end shows the explorer: give it a frame to show the dimming in
                time.sleep(max(0.0, BUSY_PAINT_S - (time.perf_counter() - dimmed)))
            self._parts, self._figure = parts, None
            if self._in_pane():
                self._output.figure = shown
            else:
                self._output.outputs = ({"output_type": "display_data", "data": shown, "metadata": {}},)
            self._show_message("")
        finally:
            self._sync_controls()  # before the move ends: the front end must not take these changes for a move
            figure_pane.set_busy(self._output, False)
        return self

    def _in_pane(self) -> bool:
        return isinstance(self._output, figure_pane.FigurePane)

    def _move_controls(self) -> list:
        """The widgets whose changes in the browser are the learner's moves."""
        return list(self.controls.values())

    def _watch_controls(self) -> None:
        """Tell the figure pane which widgets to watch: it dims as soon as one of them changes in the browser."""
        if self._in_pane():
            self._output.controls = self._move_controls()

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
        self._message_box.value = BUSY_STYLE + (f'<div style="{style}">{html.escape(text)}</div>' if text else "")

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
        self._shown = True
        self.start()
        if not hasattr(self.widget, "_repr_mimebundle_") and self._output.outputs:  # ipywidgets 7
            self._redraw_attached()

    def _redraw_attached(self) -> None:
        """Send the figure again, now that the front end shows the explorer.

        ipywidgets 7's Output widget in classic Notebook builds its first outputs off the page, where the browser
        does not run the figure's script, so the first figure would stay empty; outputs sent once the view is on
        the page are drawn.
        """
        outputs = self._output.outputs
        self._output.outputs = ()
        self._output.outputs = outputs

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({settings})"


def _figure_view():
    """The widget an explorer's figure is drawn in: a ``FigurePane`` where one works, else an ``Output``."""
    layout = widgets.Layout(min_height="300px")
    view = figure_pane.FigurePane(layout=layout) if figure_pane.available() else widgets.Output(layout=layout)
    view.add_class(figure_pane.FIGURE_CLASS)
    return view


# Every explorer's slider: it acts once let go (dragging would redraw, or retrain, at every step it passes), and its
# label is shown whole ("num_heads (h)" is wider than ipywidgets' default label column).
SLIDER_STYLE = dict(continuous_update=False, style={"description_width": "initial"})


def slider(description: str, value: int, low: int, high: int, step: int = 1) -> widgets.IntSlider:
    """An explorer's slider for a whole number from ``low`` to ``high`` (see ``SLIDER_STYLE``)."""
    return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description, **SLIDER_STYLE)


def train_with_progress(progress, h, d_model, steps, seed):
    """``explorers.trained_model``, with ``progress`` (an IntProgress) shown from zero while a new run trains.

    A remembered run returns at once and leaves ``progress`` as it is.
    """
    if explorers.is_trained(h, d_model, steps, seed):
        return explorers.trained_model(h, d_model, steps, seed)
    progress.max, progress.value, progress.bar_style = steps, 0, "info"
    progress.layout.display = None  # shown (HeadExplorer keeps it hidden until it trains)

    def moved(step, loss):
        if (step + 1) % 5 == 0 or step + 1 == steps:
            progress.value = step + 1

    result = explorers.trained_model(h, d_model, steps, seed, callback=moved)
    progress.value, progress.bar_style = steps, "success"
    return result
