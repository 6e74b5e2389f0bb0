"""The figure pane's view (``mha.widgets.figure_pane._ESM``) in headless Chromium, driven by a stand-in for the
widget model: what it draws, how it loads plotly.js, how it dims, and what it does with figures that arrive while
it draws. tests/browser/test_frontends.py runs it for real, in JupyterLab and Notebook 7 with a kernel.

Chromium comes from the ``browser`` fixture of tests/conftest.py (skipped with the reason where it is missing,
a failure with ``MHA_REQUIRE_BROWSER=1``).
"""

from __future__ import annotations

import pytest

from mha import viz
from mha.widgets import figure_pane

# A stand-in for anywidget's model and the widget manager: get/set/on/off, and get_model for the PlotlySource,
# counting how often plotly.js is asked for. mount(state) renders a new view into a new element of the page.
_HARNESS = """async ([esm, source]) => {
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  const view = (await import(url)).default;
  window.asked = 0;
  const sourceModel = {get: (k) => (k === "source" ? source : null)};
  window.controls = {};  // the explorer's controls, by model id
  const manager = {get_model: async (id) => {
    if (id in window.controls) { return window.controls[id]; }
    window.asked += 1;
    return sourceModel;
  }};
  class Model {
    constructor(state) { this.state = state; this.handlers = {}; this.widget_manager = manager; }
    get(k) { return this.state[k]; }
    set(k, v) { this.state[k] = v; (this.handlers["change:" + k] || []).slice().forEach((f) => f()); }
    on(names, f) { names.split(" ").forEach((n) => (this.handlers[n] = this.handlers[n] || []).push(f)); }
    off(names, f) {
      names.split(" ").forEach((n) => (this.handlers[n] = (this.handlers[n] || []).filter((g) => g !== f)));
    }
  }
  window.Model = Model;
  window.mount = (state) => {
    const el = document.createElement("div");
    el.style.width = "700px";
    document.body.appendChild(el);
    const model = new Model(state);
    const cleanup = view.render({model, el});
    return {model, el, cleanup};
  };
  window.title = (el) => { const gd = el.querySelector(".js-plotly-plot"); return gd && gd.layout.title.text; };
  window.drawn = (el) => !!el.querySelector(".main-svg");
}"""


def _figure(title: str) -> dict:
    data = [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}]
    return viz.figure_json(data, {"title": {"text": title}, "height": 300})


@pytest.fixture(scope="module")
def page(browser):  # browser: tests/conftest.py
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content("<html><body></body></html>")
    page.evaluate(_HARNESS, [figure_pane._ESM, viz.plotlyjs_file().read_text(encoding="utf-8")])
    yield page
    page.close()
    assert not errors, errors


def _state(title: str) -> dict:
    version = viz.render.plotlyjs_version()
    return {
        "figure": _figure(title),
        "plotly": "IPY_MODEL_source",
        "plotly_version": version,
        "busy": False,
        "busy_class": figure_pane.BUSY_CLASS,
        "controls": [],
        "handled": 0,
    }


def test_panes_draw_their_figures_and_load_plotlyjs_once(page):
    titles = page.evaluate(
        """async (states) => {
          const views = states.map((s) => window.mount(s));
          for (let i = 0; i < 100 && !views.every((v) => window.drawn(v.el)); i++) {
            await new Promise((r) => setTimeout(r, 50));
          }
          return {titles: views.map((v) => window.title(v.el)), asked: window.asked, version: window.Plotly.version};
        }""",
        [_state("first pane"), _state("second pane")],
    )
    assert titles == {"titles": ["first pane", "second pane"], "asked": 1, "version": viz.render.plotlyjs_version()}


def test_a_new_figure_is_drawn_in_place_and_the_latest_one_wins(page):
    """Figures that arrive while one is drawn are not drawn one by one: the latest is drawn next."""
    result = page.evaluate(
        """async (state) => {
          const v = window.mount(state);
          while (!window.drawn(v.el)) { await new Promise((r) => setTimeout(r, 20)); }
          const plot = v.el.querySelector(".js-plotly-plot");
          const react = window.Plotly.react, drawnTitles = [];
          window.Plotly.react = (gd, data, layout, config) => {
            drawnTitles.push(layout.title.text);
            return react(gd, data, layout, config);
          };
          try {
            for (const t of ["B", "C", "D"]) {
              const f = structuredClone(v.model.get("figure"));
              f.layout.title.text = t;
              v.model.set("figure", f);
            }
            while (window.title(v.el) !== "D") { await new Promise((r) => setTimeout(r, 20)); }
            await new Promise((r) => setTimeout(r, 200));
          } finally { window.Plotly.react = react; }
          return {drawn: drawnTitles, samePlot: v.el.querySelector(".js-plotly-plot") === plot};
        }""",
        _state("A"),
    )
    assert result == {"drawn": ["B", "D"], "samePlot": True}


def test_the_old_figure_is_dimmed_on_screen_before_the_new_one_is_drawn(page):
    """busy dims the figure at once; the drawing waits for a frame that shows the dimming; the figure stays dimmed
    until the drawing is done, even if busy goes back to False before that."""
    result = page.evaluate(
        """async ([state, cls]) => {
          const v = window.mount(state);
          while (!window.drawn(v.el)) { await new Promise((r) => setTimeout(r, 20)); }
          let frames = 0;
          const count = () => { frames += 1; requestAnimationFrame(count); };
          requestAnimationFrame(count);
          const react = window.Plotly.react, seen = {};
          window.Plotly.react = (...args) => {
            seen.dimmedWhileDrawing = v.el.classList.contains(cls);
            seen.framesBeforeDrawing = frames;
            return react(...args);
          };
          try {
            v.model.set("busy", true);
            seen.dimmedAtOnce = v.el.classList.contains(cls) && getComputedStyle(v.el) !== null;
            const f = structuredClone(v.model.get("figure"));
            f.layout.title.text = "new";
            v.model.set("figure", f);
            v.model.set("busy", false);  // the kernel's "done" can arrive before the browser has drawn
            seen.dimmedAfterDone = v.el.classList.contains(cls);
            while (window.title(v.el) !== "new") { await new Promise((r) => setTimeout(r, 20)); }
            await new Promise((r) => setTimeout(r, 50));
            seen.dimmedAfterDrawing = v.el.classList.contains(cls);
          } finally { window.Plotly.react = react; }
          return seen;
        }""",
        [_state("old"), figure_pane.BUSY_CLASS],
    )
    assert result["dimmedAtOnce"] and result["dimmedAfterDone"] and result["dimmedWhileDrawing"]
    assert result["framesBeforeDrawing"] >= 1, "the dimming must be shown in a frame before the drawing"
    assert not result["dimmedAfterDrawing"]


def test_a_control_moved_in_the_page_dims_the_figure_until_the_kernel_has_handled_it(page):
    """The dimming starts in the browser, without waiting for the kernel; values the kernel sets are not moves."""
    state = dict(_state("steady"), controls=["IPY_MODEL_slider", "IPY_MODEL_buttons"])
    seen = page.evaluate(
        """async ([state, cls]) => {
          window.controls = {slider: new window.Model({value: 4}), buttons: new window.Model({index: 0})};
          const v = window.mount(state);
          while (!window.drawn(v.el)) { await new Promise((r) => setTimeout(r, 20)); }
          const dim = () => v.el.classList.contains(cls);
          const seen = {before: dim()};
          window.controls.slider.set("value", 3);  // the learner moves the slider
          seen.moved = dim();
          v.model.set("handled", 1);  // the kernel has handled it (here: a message, no new figure)
          seen.handled = dim();
          window.controls.buttons.set("index", 1);  // the learner clicks a button
          seen.clicked = dim();
          v.model.set("handled", 2);
          window.controls.slider._state_lock = {value: 5};  // the kernel sets a control itself
          window.controls.slider.set("value", 5);
          window.controls.slider._state_lock = null;
          seen.kernelsOwn = dim();
          window.controls.switch = new window.Model({value: true});  // the kernel makes new controls
          v.model.set("controls", ["IPY_MODEL_switch"]);
          await new Promise((r) => setTimeout(r, 50));
          window.controls.slider.set("value", 6);  // no longer one of the explorer's controls
          seen.oldControl = dim();
          window.controls.switch.set("value", false);
          seen.newControl = dim();
          v.model.set("handled", 3);
          v.cleanup();
          seen.listening = (window.controls.slider.handlers["change:value"] || []).length;
          return seen;
        }""",
        [state, figure_pane.BUSY_CLASS],
    )
    assert seen == {
        "before": False,
        "moved": True,
        "handled": False,
        "clicked": True,
        "kernelsOwn": False,
        "oldControl": False,
        "newControl": True,
        "listening": 0,
    }


def test_a_figure_that_cannot_be_drawn_says_so_in_the_pane(page):
    text = page.evaluate(
        """async (state) => {
          const v = window.mount(state);
          while (!window.drawn(v.el)) { await new Promise((r) => setTimeout(r, 20)); }
          const react = window.Plotly.react;
          window.Plotly.react = () => Promise.reject(new Error("no WebGL here"));
          const error = console.error;
          console.error = () => {};
          try {
            v.model.set("figure", structuredClone(v.model.get("figure")));
            await new Promise((r) => setTimeout(r, 100));
          } finally { window.Plotly.react = react; console.error = error; }
          return v.el.textContent;
        }""",
        _state("fine"),
    )
    assert "This figure could not be drawn here: Error: no WebGL here" in text


def test_a_narrower_cell_resizes_the_plot_and_a_removed_view_lets_go(page):
    result = page.evaluate(
        """async (state) => {
          const v = window.mount(state);
          while (!window.drawn(v.el)) { await new Promise((r) => setTimeout(r, 20)); }
          const width = () => v.el.querySelector(".main-svg").getBoundingClientRect().width;
          const before = width();
          v.el.style.width = "400px";
          for (let i = 0; i < 50 && width() > 450; i++) { await new Promise((r) => setTimeout(r, 20)); }
          const after = width();
          v.cleanup();
          return {before, after, listening: (v.model.handlers["change:figure"] || []).length,
                  purged: !v.el.querySelector(".js-plotly-plot") || !v.el.querySelector(".js-plotly-plot").data};
        }""",
        _state("wide"),
    )
    assert result["before"] == pytest.approx(700, abs=2) and result["after"] == pytest.approx(400, abs=2)
    assert result["listening"] == 0 and result["purged"]
