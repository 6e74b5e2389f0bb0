"""The figure pane: an explorer's figure, redrawn in place in the browser, once per move of a control.

Where ipywidgets 8 runs (JupyterLab, Notebook 7, VS Code), an ``Output`` widget would hand each new figure to the
front end's plotly renderer as a new output, and JupyterLab's renderer (jupyterlab-plotly) draws every new output
three times: once to show it, once more into a PNG it stores in the notebook, and once again when its panel
updates. The pane is an anywidget whose view keeps one plotly.js plot and calls ``Plotly.react`` on it with each
new figure: one drawing per move, on the plot that is already there. The view also dims the old figure as soon as
one of the explorer's controls changes in the page, before the kernel has even heard of the move, until the kernel
says it has handled it (``set_busy``).

plotly.js itself (the copy plotly.py ships, about 5 MB) reaches the browser once per kernel, in a view-less widget
that every pane refers to (``PlotlySource``); a page that already holds that version of plotly.js uses it.
Elsewhere (classic Notebook and Colab, whose ipywidgets 7 stack the explorers also serve, or where anywidget is
not installed) ``available()`` is False and the explorers draw into an ``Output`` widget, as every other cell draws
its figures.
"""

from __future__ import annotations

import ipywidgets as widgets
import traitlets

from mha import viz

try:
    import anywidget
except ImportError:  # an optional dependency (mha's "explorers" extra; requirements.txt and binder/ install it)
    anywidget = None

__all__ = ["BUSY_CLASS", "FIGURE_CLASS", "FigurePane", "PlotlySource", "available", "plotly_source", "set_busy"]

FIGURE_CLASS = "mha-figure"  # the CSS class of every explorer's figure, pane or Output
BUSY_CLASS = "mha-busy"  # the CSS class of a figure that is being replaced (the explorers' style dims it)

# The pane's view (an anywidget ES module): one plot per view, redrawn with Plotly.react whenever the kernel sends a
# new figure; figures sent while one is being drawn are not queued: the latest is drawn next.
_ESM = """
function plotly(model) {
  const version = model.get("plotly_version");
  if (window.Plotly && window.Plotly.version === version) { return Promise.resolve(window.Plotly); }
  window.mhaPlotly = window.mhaPlotly || {};
  if (!window.mhaPlotly[version]) {
    window.mhaPlotly[version] = (async () => {
      const source = await model.widget_manager.get_model(model.get("plotly").slice("IPY_MODEL_".length));
      const url = URL.createObjectURL(new Blob([source.get("source")], {type: "text/javascript"}));
      try { await import(url); } finally { URL.revokeObjectURL(url); }  // plotly.js sets window.Plotly
      return window.Plotly;
    })();
  }
  return window.mhaPlotly[version];
}

function render({ model, el }) {
  const div = document.createElement("div");
  el.appendChild(div);
  const dimmed = model.get("busy_class");
  let drawing = false, again = false, width = 0, painted = Promise.resolve(), moving = false, waited = null;
  const nextFrame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  // The old figure is dimmed from the moment a control of the explorer changes in this page (the kernel's reply
  // can come late: a slider's mouse release costs JupyterLab a whole-page style recalculation first), while the
  // kernel computes (busy) and while the new figure is drawn. The drawing waits until a frame has shown the
  // dimming: it can take the browser's time for a few hundred milliseconds.
  // (The view follows "busy", not _dom_classes: anywidget's views do not follow changes of _dom_classes.)
  const dim = () => {
    const on = drawing || moving || !!model.get("busy");
    if (on && !el.classList.contains(dimmed)) {
      el.classList.add(dimmed);
      painted = nextFrame();
    } else if (!on) {
      el.classList.remove(dimmed);
    }
  };
  const settled = () => {  // the kernel has handled the move (drawn, or shown a message)
    moving = false;
    clearTimeout(waited);
    dim();
  };
  const moved = (control) => {
    if (control._state_lock) { return; }  // a value the kernel set (ipywidgets' set_state), not a move
    moving = true;
    clearTimeout(waited);
    waited = setTimeout(settled, 5000);  // a move that never reaches the kernel does not dim for ever
    dim();
  };
  async function draw() {
    if (drawing) { again = true; return; }
    drawing = true;
    try {
      do {
        again = false;
        const figure = model.get("figure");
        if (figure && figure.data) {
          const Plotly = await plotly(model);
          await painted;
          await Plotly.react(div, figure.data, figure.layout || {}, figure.config || {});
          width = el.clientWidth;
        }
      } while (again);
    } catch (err) {
      console.error("mha figure pane:", err);
      div.textContent = "This figure could not be drawn here: " + err;
    } finally {
      drawing = false;
      dim();
    }
  }
  // The cell's width can change without the window's (JupyterLab's side panels): fit the plot to it.
  const resized = new ResizeObserver(() => {
    if (window.Plotly && div.data && el.clientWidth > 0 && el.clientWidth !== width) {
      width = el.clientWidth;
      window.Plotly.Plots.resize(div);
    }
  });
  resized.observe(el);
  // The explorer's controls, whose changes in the page are moves (the kernel sends a new list when they change).
  let controls = [];
  const unlisten = () => {
    controls.forEach(([control, listener]) => control.off("change:value change:index", listener));
    controls = [];
  };
  const listen = () => {
    unlisten();
    const refs = model.get("controls") || [];
    Promise.all(refs.map((ref) => model.widget_manager.get_model(ref.slice("IPY_MODEL_".length))))
      .then((found) => {
        if (refs !== model.get("controls")) { return; }  // a newer list came meanwhile
        found.forEach((control) => {
          const listener = () => moved(control);
          control.on("change:value change:index", listener);
          controls.push([control, listener]);
        });
      })
      .catch((err) => console.error("mha figure pane: the explorer's controls were not found:", err));
  };
  listen();
  model.on("change:figure", draw);
  model.on("change:busy", dim);
  model.on("change:handled", settled);
  model.on("change:controls", listen);
  dim();
  draw();
  return () => {
    resized.disconnect();
    clearTimeout(waited);
    unlisten();
    model.off("change:controls", listen);
    model.off("change:figure", draw);
    model.off("change:busy", dim);
    model.off("change:handled", settled);
    if (window.Plotly && div.data) { window.Plotly.purge(div); }
  };
}

export default { render };
"""


class PlotlySource(widgets.Widget):
    """plotly.js's source, held in the browser by a widget with no view (ipywidgets' plain ``WidgetModel``)."""

    source = traitlets.Unicode().tag(sync=True)


_SOURCE: list[PlotlySource] = []


def plotly_source() -> PlotlySource:
    """The one ``PlotlySource`` of this kernel (made on first use): the plotly.js that plotly.py ships."""
    if not _SOURCE or _SOURCE[0].comm is None:  # none yet, or closed
        _SOURCE[:] = [PlotlySource(source=viz.plotlyjs_file().read_text(encoding="utf-8"))]
    return _SOURCE[0]


def available() -> bool:
    """Whether explorers draw into a ``FigurePane`` here: with anywidget and ipywidgets 8, outside Colab."""
    if anywidget is None or int(widgets.__version__.split(".")[0]) < 8:
        return False
    return viz.render.renderer_name() != "colab"


class FigurePane(anywidget.AnyWidget if anywidget else widgets.DOMWidget):  # (never made without anywidget)
    """One plotly figure, {"data", "layout", "config"} as ``viz.figure_json`` makes it, drawn in place."""

    _esm = _ESM
    figure = traitlets.Dict().tag(sync=True)
    plotly = traitlets.Instance(PlotlySource).tag(sync=True, **widgets.widget_serialization)
    plotly_version = traitlets.Unicode().tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)  # the view has BUSY_CLASS while True
    busy_class = traitlets.Unicode(BUSY_CLASS).tag(sync=True)
    controls = traitlets.List(traitlets.Instance(widgets.Widget)).tag(sync=True, **widgets.widget_serialization)
    handled = traitlets.Int(0).tag(sync=True)  # one more for every move the kernel has handled (see set_busy)

    @traitlets.default("plotly")
    def _plotly_default(self):
        return plotly_source()

    @traitlets.default("plotly_version")
    def _plotly_version_default(self):
        return viz.render.plotlyjs_version()


def set_busy(view, busy: bool) -> None:
    """Give an explorer's figure (a ``FigurePane`` or an ``Output``) the class ``BUSY_CLASS``, or take it away.

    For a pane, taking it away also ends the move: its view dims as soon as one of the pane's ``controls`` changes
    in the page, until the kernel has handled that change (drawn it, or shown why it cannot), which ``handled``
    says. Call it with False once per ``set()``, after the kernel's own changes to the controls.
    """
    if isinstance(view, FigurePane):
        with view.hold_sync():
            view.busy = busy
            if not busy:
                view.handled += 1
    elif busy:
        view.add_class(BUSY_CLASS)
    else:
        view.remove_class(BUSY_CLASS)
