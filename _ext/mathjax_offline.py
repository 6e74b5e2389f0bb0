"""Sphinx extension: serve MathJax 3 from the book itself, so math is typeset offline.

Sphinx loads MathJax from a CDN by default. This extension points ``mathjax_path`` at
``_static/mathjax/tex-mml-chtml.js`` and copies MathJax's ``es5`` build there from the
``django-static-mathjax`` package (MathJax 3.2.2, plain files, no dependencies; see requirements.txt).
The other combined builds (``tex-svg.js``, ...) and the SVG output are left out: the page never loads them.
"""

import shutil
from pathlib import Path

MATHJAX_ENTRY = "tex-mml-chtml.js"


def mathjax_es5_dir() -> Path:
    """The folder of MathJax's es5 build in the installed ``django-static-mathjax`` package."""
    try:
        import mathjax
    except ImportError as err:
        raise RuntimeError(
            "the book serves MathJax itself and needs the package django-static-mathjax: "
            "pip install -r requirements.txt"
        ) from err
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"expected MathJax's {MATHJAX_ENTRY} in {es5}; is django-static-mathjax 3.x installed?")
    return es5


def _skip_unused(folder, names):
    """Leave out what tex-mml-chtml.js never loads: the other combined builds and the SVG output."""
    if Path(folder) == mathjax_es5_dir():
        return [n for n in names if n.endswith(".js") and n != MATHJAX_ENTRY]
    if Path(folder).name == "output":
        return [n for n in names if n.startswith("svg")]
    return []


def _set_mathjax_path(app, config):
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"  # relative to _static/


def _copy_mathjax(app, exception):
    if exception is None and app.builder.format == "html":
        shutil.copytree(
            mathjax_es5_dir(), Path(app.outdir) / "_static" / "mathjax", ignore=_skip_unused, dirs_exist_ok=True
        )


def setup(app):
    mathjax_es5_dir()  # fail early, with the fix, when the package is missing
    app.connect("config-inited", _set_mathjax_path)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
