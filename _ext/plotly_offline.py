"""Sphinx extension: plotly.js from the book itself, only on pages with figures, after the text has painted.

Notebook outputs made by the course's renderer (``mha.viz``) carry a ``text/html`` part: a div and an inline
script that calls ``Plotly.newPlot``. Loading plotly.js in the head of every page would block every page's first
paint on a multi-megabyte script, figures or not. Instead, on each page that has a figure:

- a small inline loader (``window.mhaWhenPlotly``) is put before the page's content; it starts loading plotly.js
  at once, as a script inserted by code (which never blocks the parser or the first paint, and does not wait for
  the theme's deferred scripts), and runs the queued figures when it has arrived;
- every inline ``Plotly.newPlot`` script of the page is wrapped in ``mhaWhenPlotly(function () {...})``.

When plotly.js has arrived, ``_ext/static/mha-figures.js`` (inlined with the loader) makes every figure follow the
theme's light or dark mode, also when the reader switches it, and gives its sliders and buttons keyboard controls.

Pages without a figure load no plotly.js at all. The bundle is plotly.js's "cartesian" partial bundle (scatter,
bar, heatmap, sliders and menus: all the course draws), a third of the full one; it is kept in ``_ext/static``
with its licence, and ``tests/unit/test_book_assets.py`` checks that its version is the one plotly.py writes
figures for.
"""

import re
import shutil
from pathlib import Path

STATIC = Path(__file__).parent / "static"
BUNDLE = "plotly-cartesian.min.js"
# dark mode and keyboard controls for the figures (inlined: a few kB, no extra request before the figures draw)
FIGURES_JS = (STATIC / "mha-figures.js").read_text(encoding="utf-8")

# plotly.py writes `<script>` (7.x) or `<script type="text/javascript">` (5.x) around `window.PLOTLYENV=...newPlot(...)`
_FIGURE_SCRIPT = re.compile(
    r'<script(?: type="text/javascript")?>(\s*window\.PLOTLYENV=.*?Plotly\.newPlot\(.*?)</script>', re.S
)

_LOADER = """<script>
%s
(function () {
  var queue = [], ready = false;
  window.mhaWhenPlotly = function (draw) { if (ready) { draw(); } else { queue.push(draw); } };
  function load() {
    var s = document.createElement("script");
    s.src = "%s";
    s.onload = function () {
      window.mhaFigures.install(window.Plotly);
      ready = true;
      queue.splice(0).forEach(function (draw) { draw(); });
    };
    document.head.appendChild(s);
  }
  load();
})();
</script>
"""


def bundle_version(path: Path = STATIC / BUNDLE) -> str:
    """The plotly.js version written in the bundle's header comment (e.g. "4.1.1")."""
    head = path.read_text(encoding="utf-8", errors="replace")[:400]
    match = re.search(r"plotly\.js \([^)]*\) v(\d+\.\d+\.\d+)", head)
    if not match:
        raise ValueError(f"{path} does not start with a plotly.js version comment")
    return match.group(1)


def defer_figures(body: str, bundle_url: str) -> str:
    """The page body with its figure scripts queued behind the loader (unchanged when it has no figure)."""
    if "Plotly.newPlot(" not in body:
        return body
    wrapped = _FIGURE_SCRIPT.sub(r"<script>mhaWhenPlotly(function () {\1});</script>", body)
    return _LOADER % (FIGURES_JS, bundle_url) + wrapped


def _page_context(app, pagename, templatename, context, doctree):
    if "body" in context and "Plotly.newPlot(" in context["body"]:
        url = context["pathto"]("_static/" + BUNDLE, 1)
        context["body"] = defer_figures(context["body"], url)
        # fetched from the head, while the page's long HTML still arrives (it runs only when the loader asks)
        context["metatags"] = context.get("metatags", "") + f'\n<link rel="preload" href="{url}" as="script">'


def _copy_bundle(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / BUNDLE, static / BUNDLE)


def setup(app):
    app.connect("html-page-context", _page_context)
    app.connect("build-finished", _copy_bundle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
