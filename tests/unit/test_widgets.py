"""The explorers of mha.widgets, driven without a browser: settings in, figure and message out."""

import json
import time

import plotly.graph_objects as go
import pytest
import torch

import mha
from mha import explorers, viz
from mha import widgets as W
from mha.validate import head_count_message


def heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def head_blocks(fig, T: int = 11) -> list:
    """Each head's T x T weights, cut out of a head view's one heatmap grid (viz.grid_corner says where)."""
    (grid,) = heatmaps(fig)
    h = len(fig.layout.shapes) // T  # one line per head and token
    corners = [viz.grid_corner(i, T, viz.grid_columns(h)) for i in range(h)]
    return [[list(row[c : c + T]) for row in grid.z[r : r + T]] for r, c in corners]


def head_labels(fig, T: int) -> list:
    """The token labels under a head view's first column of heatmaps."""
    return list(fig.layout.xaxis2.ticktext[:T])


def texts(fig):
    """Every piece of text the figure shows: the title, the annotations and the text traces."""
    out = [fig.layout.title.text or ""] + [a.text or "" for a in fig.layout.annotations]
    for t in fig.data:
        if getattr(t, "text", None) is not None and not isinstance(t.text, str):
            out += list(t.text)
    return "\n".join(out)


def plotly_accepts(fig):
    go.Figure(fig.to_dict())  # the explorers build figures unchecked, for speed: plotly's checks run here


@pytest.fixture
def quick_training(monkeypatch):
    """Trained toy models in a few steps, so these tests stay fast."""
    real = explorers.trained_model

    def quick(h, d, steps=60, seed=0, callback=None):
        return real(h, d, 4, seed, callback)

    monkeypatch.setattr(explorers, "trained_model", quick)
    yield
    explorers.forget_trained_models()


# ---------------------------------------------------------------- messages


def test_head_count_message_names_the_nearest_valid_choices():
    msg = head_count_message(60, 8)
    assert "60 / 8 = 7.5" in msg and "num_heads = 6 or 10" in msg and "d_model = 56 or 64" in msg
    assert "d_model = 63 or 70" in head_count_message(64, 7, d_model_step=1)
    assert "d_model = 56 or 84" in head_count_message(60, 7, d_model_step=4)  # multiples of 7 on a step-4 slider


# ---------------------------------------------------------------- 1. shapes


@pytest.mark.parametrize("d_model, num_heads, seq_len", [(64, 8, 11), (32, 1, 5), (48, 6, 20), (8, 8, 1)])
def test_shape_explorer_shows_d_k_and_parameter_count(d_model, num_heads, seq_len):
    e = W.ShapeExplorer(d_model, num_heads, seq_len)
    assert e.message == ""
    d_k = d_model // num_heads
    text = texts(e.figure)
    assert f"d_k = {d_model} / {num_heads} = {d_k}" in text
    assert f"{num_heads} x ({seq_len} x {d_k})" in text  # Q_i, K_i, V_i, Z_i
    assert f"{num_heads} x ({seq_len} x {seq_len})" in text  # one pattern per head
    params = mha.count_parameters(mha.MultiHeadAttention(d_model, num_heads))
    assert viz.mha_sizes(d_model, num_heads, seq_len)["parameters"] == params
    assert f"parameters: {params:,}" in text
    head_blocks = [t for t in e.figure.data if (t.name or "").startswith("head ")]
    assert len(head_blocks) == num_heads
    plotly_accepts(e.figure)


def test_shape_explorer_invalid_setting_keeps_the_figure():
    e = W.ShapeExplorer()
    before = e.figure
    e.set(d_model=60)
    assert "num_heads = 6 or 10" in e.message and "d_model = 56 or 64" in e.message
    assert e.figure is before and "still shows the last valid setting" in e._message_box.value
    assert e.controls["d_model"].value == 60  # the control shows what was asked for
    e.set(num_heads=6)  # 60 / 6 works
    assert e.message == "" and "fff3cd" not in e._message_box.value  # no message box left on the screen
    assert "d_k = 60 / 6 = 10" in texts(e.figure)


@pytest.fixture(params=["pane", "output"])
def figure_view(request, monkeypatch):
    """Each explorer test that uses it runs twice: with the figure pane (ipywidgets 8: JupyterLab, Notebook 7,
    VS Code) and with the Output widget (ipywidgets 7: classic Notebook, Colab)."""
    if request.param == "output":
        monkeypatch.setattr(W.figure_pane, "available", lambda: False)
    return request.param


def observe_figure(e, dimmed, figure) -> None:
    """Call ``dimmed(bool)`` when the explorer's figure is dimmed or undimmed, ``figure()`` when a figure is sent."""
    view = e._output
    if isinstance(view, W.figure_pane.FigurePane):
        view.observe(lambda c: dimmed(c["new"]), names="busy")
        view.observe(lambda c: figure(), names="figure")
    else:
        view.observe(lambda c: dimmed(W.figure_pane.BUSY_CLASS in c["new"]), names="_dom_classes")
        view.observe(lambda c: figure(), names="outputs")


@pytest.mark.parametrize("explorer", [W.ShapeExplorer, W.HeadExplorer])
def test_explorer_dims_the_old_figure_until_the_new_one_is_sent(explorer, figure_view):
    """The front end receives, in order: the old figure dimmed, the new figure, the dimming taken away; a setting
    that cannot be drawn leaves the figure undimmed. The dimming's style travels with the explorer."""
    e = explorer()
    assert isinstance(e._output, W.figure_pane.FigurePane) == (figure_view == "pane")
    events = []
    observe_figure(e, lambda on: events.append(("dimmed", on)), lambda: events.append("figure"))
    e.set(num_heads=2)
    assert events == [("dimmed", True), "figure", ("dimmed", False)]
    events.clear()
    e.set(num_heads="two")  # rejected before anything is drawn: nothing dims
    assert events == [] and e.message
    e.set(num_heads=2)
    assert W.base.BUSY_STYLE in e._message_box.value
    assert f".{W.figure_pane.BUSY_CLASS} {{" in W.base.BUSY_STYLE  # the style dims what set_busy marks
    assert W.figure_pane.BUSY_CLASS not in e._output._dom_classes and not getattr(e._output, "busy", False)


def test_the_pane_knows_the_controls_and_hears_the_end_of_every_move():
    """The pane's view dims when a control changes in the browser and undims when ``handled`` changes: once per
    set(), valid or not, and after the kernel's own changes to the controls (which must not count as moves)."""
    e = W.HeadExplorer()
    pane = e._output
    assert pane.controls == list(e.controls.values())
    events = []
    pane.observe(lambda c: events.append("handled"), names="handled")
    for control in e.controls.values():
        control.observe(lambda c: events.append("control"), names="value")
    e.set(num_heads=2)  # the kernel shows 2 on the slider, then ends the move
    e.set(num_heads="two")  # not drawn: a message
    assert events == ["control", "handled", "handled"]
    before = pane.handled
    e.controls["num_heads"].value = 8  # as the browser does: the kernel draws it, and ends the move once
    assert pane.handled == before + 1 and e.params["num_heads"] == 8


def test_the_training_explorers_pane_watches_its_head_switches_too(quick_training):
    e = W.TrainExplorer(num_heads=2)
    e.start()
    switches = list(e._switch_box.children)
    assert len(switches) == 2 and e._output.controls == list(e.controls.values()) + switches
    e.set(num_heads=4)
    assert e._output.controls[-4:] == list(e._switch_box.children) and switches[0] not in e._output.controls


def test_a_shown_explorer_sends_its_figure_a_frame_after_the_dimming(figure_view):
    """Sent together, the dimming and a figure that takes the browser long to draw would be handled in one go, and
    the dimming would never be seen; a shown explorer leaves BUSY_PAINT_S between them (an unshown one does not)."""
    e = W.HeadExplorer()
    sent = {}
    now = time.perf_counter
    observe_figure(e, lambda on: sent.setdefault("dimmed", now()), lambda: sent.setdefault("figure", now()))
    e._shown = True  # as _ipython_display_ sets it
    e.set(num_heads=8)
    assert sent["figure"] - sent["dimmed"] >= W.base.BUSY_PAINT_S


@pytest.mark.parametrize("bad", [{"d_model": "abc"}, {"num_heads": 0}, {"seq_len": -3}, {"d_model": 2.5}, {"nope": 1}])
def test_shape_explorer_bad_input_gives_a_message_not_an_exception(bad):
    e = W.ShapeExplorer()
    before, params = e.figure, dict(e.params)
    e.set(**bad)
    assert e.message and e.figure is before and e.params == params


def test_shape_explorer_controls_redraw():
    e = W.ShapeExplorer()
    e.controls["num_heads"].value = 4
    assert e.params["num_heads"] == 4 and "d_k = 64 / 4 = 16" in texts(e.figure)
    e.controls["num_heads"].value = 7
    assert "7" in e.message and "d_k = 64 / 4 = 16" in texts(e.figure)
    e.controls["d_model"].value = 56
    assert e.message == "" and "d_k = 56 / 7 = 8" in texts(e.figure)


def test_explorer_displays_as_its_widget_with_a_stable_text_form(figure_view):
    e = W.ShapeExplorer()
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "ShapeExplorer(d_model=64, num_heads=8, seq_len=11)"  # what nbval compares
    assert "Run this cell to start the explorer" in bundle["text/html"]  # shown where the widget cannot be
    assert W.figure_pane.FIGURE_CLASS in e._output._dom_classes  # how a page finds the explorer's figure
    if figure_view == "pane":
        assert e._output.figure == viz.figure_json(*e._parts)  # plotly.js's own form: data, layout, config
        shown = e._output.figure
    else:
        (out,) = e._output.outputs
        shown = out["data"]
        assert "application/vnd.plotly.v1+json" in shown and "text/html" in shown  # classic Notebook draws the HTML
    json.dumps(shown)  # the widget's state can be sent to the browser


def test_figure_panes_share_one_copy_of_plotlyjs():
    """plotly.js (about 5 MB) reaches the browser once per kernel, however many explorers there are."""
    panes = [W.ShapeExplorer()._output, W.HeadExplorer()._output]
    assert all(isinstance(p, W.figure_pane.FigurePane) for p in panes)
    (source,) = {id(p.plotly) for p in panes}
    plotly_js = panes[0].plotly.source
    assert plotly_js.lstrip().startswith("/**") and f"plotly.js v{panes[0].plotly_version}" in plotly_js[:200]
    assert panes[0].plotly_version == viz.render.plotlyjs_version()
    state = panes[0].get_state()
    assert state["plotly"] == f"IPY_MODEL_{panes[0].plotly.model_id}"  # a reference, not a copy
    assert "source" not in json.dumps({k: v for k, v in state.items() if k != "_esm"})
    panes[0].plotly.close()  # a closed source (e.g. the learner closed every widget) is made anew
    assert W.figure_pane.plotly_source() is not panes[0].plotly


def test_figure_pane_only_with_anywidget_and_ipywidgets_8_outside_colab(monkeypatch):
    import sys
    import types

    assert W.figure_pane.available()
    monkeypatch.setattr(W.figure_pane.widgets, "__version__", "7.7.1")
    assert not W.figure_pane.available()  # classic Notebook, Colab: the Output widget, drawn by the HTML
    monkeypatch.setattr(W.figure_pane.widgets, "__version__", "8.1.9")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert not W.figure_pane.available()  # Colab draws the Output widget's outputs itself
    assert isinstance(W.ShapeExplorer()._output, W.figure_pane.widgets.Output)
    monkeypatch.delitem(sys.modules, "google.colab")
    assert W.figure_pane.available()
    monkeypatch.setattr(W.figure_pane, "anywidget", None)  # mha installed without its "explorers" extra
    assert not W.figure_pane.available() and isinstance(W.ShapeExplorer()._output, W.figure_pane.widgets.Output)


# ---------------------------------------------------------------- 2. heads


@pytest.mark.parametrize("num_heads", [1, 2, 4, 8])
def test_head_explorer_draws_one_heatmap_per_head(num_heads):
    e = W.HeadExplorer(num_heads=num_heads, d_model=32)
    assert e.message == ""
    assert len(heatmaps(e.figure)) == 1 and len(head_blocks(e.figure)) == num_heads  # one grid of h blocks
    it = W.EXAMPLE_SENTENCE.split().index("it")
    lines = e.figure.layout.shapes
    assert len(lines) == num_heads * 11 and all(s.y0 == -it for s in lines)  # the head view starts at "it"
    for block in head_blocks(e.figure):  # each row of weights sums to 1
        assert torch.allclose(torch.tensor(block).sum(-1), torch.ones(11), atol=0.01)
    cells = sum(v is not None for row in heatmaps(e.figure)[0].z for v in row)
    assert cells == num_heads * 121  # nothing but the heads' weights: the cells between the blocks are empty
    plotly_accepts(e.figure)


def test_head_explorer_heads_differ_and_follow_the_seed():
    e = W.HeadExplorer(num_heads=4)
    z = [json.dumps(block) for block in head_blocks(e.figure)]
    assert len(set(z)) == 4  # four different patterns
    e.set(seed=1)
    assert json.dumps(head_blocks(e.figure)[0]) != z[0]


def test_head_explorer_typed_sentence_and_token():
    e = W.HeadExplorer()
    e.set(sentence="  the cat sat on the mat ", num_heads=2)
    assert e.message == "" and e.params["sentence"] == "the cat sat on the mat"
    assert list(e.controls["token"].options) == ["the", "cat", "sat", "on", "mat"]
    assert e.params["token"] == "mat"  # no "it" here: the last word
    assert head_labels(e.figure, 6) == ["the", "cat", "sat", "on", "the#2", "mat"]
    e.controls["token"].value = "cat"
    assert e.params["token"] == "cat" and all(s.y0 == -1 for s in e.figure.layout.shapes)


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"sentence": "   "}, "at least one word"),
        ({"num_heads": 3}, "num_heads = 2 or 4"),
        ({"weights": "pretrained"}, "'random' or 'trained'"),
        ({"sentence": " ".join(["word"] * 41)}, "40 or fewer"),
    ],
)
def test_head_explorer_bad_input_gives_a_message(bad, words):
    e = W.HeadExplorer()
    before = e.figure
    e.set(**bad)
    assert words in e.message and e.figure is before


def test_head_explorer_trained_weights(quick_training):
    e = W.HeadExplorer(weights="trained", num_heads=2, d_model=16)
    assert e.message == "" and len(head_blocks(e.figure)) == 2
    assert head_labels(e.figure, 2) == ["the", "animal"]  # the toy model's words are lower case
    before = e.figure
    e.set(sentence="The robot didn't cross the street")
    assert "robot" in e.message and "switch weights to random" in e.message and e.figure is before
    e.set(weights="random")
    assert e.message == "" and head_labels(e.figure, 2) == ["The", "robot"]


# ---------------------------------------------------------------- 3. training


def test_train_explorer_trains_shows_heads_and_ablates():
    e = W.TrainExplorer(num_heads=2, d_model=8, steps=3).start()
    try:
        assert e.message == "" and e.progress.value == 3 == e.progress.max
        assert len(heatmaps(e.figure)) == 2 and len(e._switch_box.children) == 2
        losses = [t for t in e.figure.data if t.type == "scatter"][0]
        assert len(losses.y) == 3
        bars = [t for t in e.figure.data if t.type == "bar"][0]
        assert list(bars.x) == ["all heads on", "without head 1", "without head 2"]
        everything = bars.y[0]
        e._switch_box.children[0].value = False  # switch head 1 off with its toggle
        assert e.params["head_mask"] == [0, 1]
        assert "with 1 of 2 heads on" in e.figure.layout.title.text
        assert f"{bars.y[1]:.0%}" in e.figure.layout.title.text  # the accuracy of "without head 1"
        assert heatmaps(e.figure)[0].opacity < 1 and heatmaps(e.figure)[1].opacity == 1
        e.set(head_mask=[0, 0])
        bars = [t for t in e.figure.data if t.type == "bar"][0]
        assert bars.x[-1] == "no head on" and bars.y[0] == everything
        e.set(num_heads=4)  # a new head count: four switches, all on
        assert len(e._switch_box.children) == 4 and e.params["head_mask"] is None
        assert len(heatmaps(e.figure)) == 4
        plotly_accepts(e.figure)
    finally:
        explorers.forget_trained_models()


def test_train_explorer_progress_follows_the_callback(monkeypatch):
    seen = []
    real = explorers.trained_model

    def spy(h, d, steps, seed, callback=None):
        return real(h, d, steps, seed, callback=lambda step, loss: (seen.append(step), callback(step, loss)))

    monkeypatch.setattr(explorers, "trained_model", spy)
    try:
        e = W.TrainExplorer(num_heads=1, d_model=8, steps=10).start()
        assert seen == list(range(10)) and e.progress.value == 10 and e.progress.bar_style == "success"
    finally:
        explorers.forget_trained_models()


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"num_heads": 3}, "cannot be cut"),
        ({"head_mask": [1, 2]}, "only 0"),
        ({"head_mask": [1]}, "one entry per head"),
    ],
)
def test_train_explorer_bad_input_gives_a_message(bad, words):
    e = W.TrainExplorer(num_heads=2, d_model=8, steps=2).start()
    try:
        before = e.figure
        e.set(**bad)
        assert words in e.message and e.figure is before
    finally:
        explorers.forget_trained_models()


# ---------------------------------------------------------------- the kernel-free figures


def step_data(fig):
    """Each slider step's (data, layout) as JSON text, and each button's."""
    steps = [json.dumps(s.args, sort_keys=True) for s in fig.layout.sliders[0].steps]
    buttons = [json.dumps(b.args, sort_keys=True) for m in fig.layout.updatemenus for b in m.buttons]
    return steps, buttons


def test_static_shape_figure_has_a_step_per_setting():
    fig = W.ShapeExplorer.static_figure()
    steps, buttons = step_data(fig)
    assert len(fig.layout.sliders) == 1 and len(steps) == 4 and len(buttons) == 3
    assert [s.label for s in fig.layout.sliders[0].steps] == ["1", "2", "4", "8"]
    assert len(set(steps)) == 4 and len(set(buttons)) == 3
    for b in fig.layout.updatemenus[0].buttons:  # each button brings its own slider steps
        assert len(b.args[1]["sliders[0].steps"]) == 4
    assert "d_k = 64 / 4 = 16" in fig.layout.title.text  # it opens on d_model = 64, h = 4
    assert len(fig.to_json()) < 300_000


def test_static_head_figure_has_a_step_per_setting():
    fig = W.HeadExplorer.static_figure(d_models=(16, 32), head_counts=(1, 2, 4))
    steps, buttons = step_data(fig)
    assert len(steps) == 3 and len(set(steps)) == 3 and len(buttons) == 2 and len(set(buttons)) == 2
    for step, h in zip(fig.layout.sliders[0].steps, (1, 2, 4)):
        restyle = step.args[0]
        shown = [i for i, d in enumerate(fig.data) if d.type == "heatmap" and restyle["visible"][i]]
        assert len(shown) == 1  # the heads' heatmap grid
        z = restyle["z"][shown[0]]
        assert sum(v is not None for row in z for v in row) == h * 11 * 11  # with h heads' weights
        assert len(step.args[1]["shapes"]) == h * 11


def test_static_head_figure_default_is_small_enough():
    assert len(W.HeadExplorer.static_figure().to_json()) < 300_000


def test_static_train_figure_has_a_step_per_run():
    try:
        fig = W.TrainExplorer.static_figure(head_counts=(1, 2), d_model=8, steps=3)
        steps, buttons = step_data(fig)
        assert len(steps) == 2 and len(set(steps)) == 2 and buttons == []
        assert len(heatmaps(fig)) == 2  # opens on the last run, h = 2
    finally:
        explorers.forget_trained_models()


# ---------------------------------------------------------------- what a learner sees in a front end


def test_train_explorer_trains_once_displayed_with_progress_from_zero(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, e.progress.value)))
    e = W.TrainExplorer(num_heads=1, d_model=8, steps=10)
    try:
        assert e.progress.value == 0 and e._parts is None  # nothing trained before it is on the screen
        e._ipython_display_()
        ((bundle,), progress_when_shown), *_ = shown
        assert progress_when_shown == 0 and "application/vnd.jupyter.widget-view+json" in bundle
        assert e.progress.value == 10 and e.progress.bar_style == "success" and e.figure is not None
        again = W.TrainExplorer(num_heads=1, d_model=8, steps=10)  # a remembered run draws at once
        assert again._parts is not None and again.progress.value == 10
    finally:
        explorers.forget_trained_models()


def test_train_explorer_switches_match_the_figure_after_an_invalid_head_count():
    e = W.TrainExplorer(num_heads=2, d_model=8, steps=2).start()
    try:
        e.controls["num_heads"].value = 3  # 8 / 3: cannot be drawn
        assert "cannot be cut" in e.message and len(heatmaps(e.figure)) == 2
        assert len(e._switch_box.children) == 2  # the switches of the two heads the figure shows
        e._switch_box.children[1].value = False  # using them switches the figure's head 2 off
        assert e.message == "" and e.params["num_heads"] == 2 and e.params["head_mask"] == [1, 0]
        assert e.controls["num_heads"].value == 2 and "with 1 of 2 heads on" in e.figure.layout.title.text
    finally:
        explorers.forget_trained_models()


def test_head_explorer_shows_progress_while_trained_weights_train(quick_training):
    e = W.HeadExplorer(num_heads=2, d_model=16)
    assert e.progress.layout.display == "none"  # random heads: nothing to wait for
    e.controls["weights"].value = "trained"
    assert e.message == "" and e.progress.layout.display is None and e.progress.bar_style == "success"
    e.controls["weights"].value = "random"
    assert e.progress.layout.display == "none"


def test_figure_html_loads_plotly_where_the_page_has_none(tmp_path, monkeypatch):
    """Classic Notebook has no Plotly and no renderer for plotly JSON: the figure's HTML loads plotly.js itself,
    from the server's nbextensions/mha/ (offline) else the CDN, and stays what the book's loader expects."""
    from pathlib import Path

    from mha.viz import render

    fig = go.Figure(go.Bar(y=[1, 2]))
    html = render.CourseRenderer().to_mimebundle(fig.to_dict())["text/html"]
    assert html == render.CourseRenderer().to_mimebundle(fig.to_dict())["text/html"]  # stable for nbval
    version = render.plotlyjs_version()
    assert f'"{version}");' in html and "nbextensions/mha/plotly-" in html
    assert "if (w.Plotly) { draw(); return; }" in html  # where Plotly is there (the book), it draws at once
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "_ext"))
    import plotly_offline

    deferred = plotly_offline.defer_figures(html, "plotly.js")
    assert "mhaWhenPlotly(function () {" in deferred, "the book's loader must still find the figure's script"
    copied = render.serve_plotlyjs(tmp_path)
    assert copied == tmp_path / "mha" / f"plotly-{version}.min.js" and copied.stat().st_size > 1_000_000
    assert render.serve_plotlyjs(tmp_path) == copied  # once per version


@pytest.mark.parametrize(
    "versions, broken",
    [
        ({"ipywidgets": "7.7.1", "ipykernel": "6.29.5"}, True),  # no widget shows in classic Notebook
        ({"ipywidgets": "7.7.1", "ipykernel": "6.17.1"}, False),  # Colab's pair
        ({"ipywidgets": "8.1.8", "ipykernel": "7.1.0"}, False),
        ({"ipywidgets": "7.7.1"}, False),  # no ipykernel: nothing to say
    ],
)
def test_widget_stack_problem_names_the_fix_only_where_widgets_cannot_show(versions, broken):
    text = mha.widget_stack_problem(versions)
    assert bool(text) == broken
    if broken:
        assert "ipywidgets 7.7.1" in text and "ipykernel 6.29.5" in text and 'pip install "ipywidgets>=8"' in text


def test_setup_notebook_prints_nothing_in_the_course_environment(capsys):
    mha.setup_notebook()
    assert capsys.readouterr().out == ""
