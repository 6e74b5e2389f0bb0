"""The rendered book in a real browser: every page as a reader with no kernel and no internet sees it.

Serves the built book (``MHA_BOOK_HTML``, default ``_build/html``) on 127.0.0.1 and opens every page in
headless Chromium (``/usr/bin/chromium``, driven by playwright; no browser is ever downloaded). Every request
to anything but 127.0.0.1 is blocked. On each page it checks:

- no console errors, no failed or blocked requests, no HTTP errors;
- every plotly figure is drawn, its texts (titles, subplot titles, legend) fit in it without overlapping,
  and every slider step and menu button changes the figure when clicked;
- every piece of math is typeset by MathJax (served by the book itself) without TeX errors;
- every link to a page or anchor of the book resolves;
- hidden content (exercise solutions, hidden cells) is hidden until its toggle is clicked, then visible;
- axe-core finds no accessibility violation, in the theme's light and in its dark mode; every figure has a name,
  a one-sentence description and its numbers as tables (added by ``_ext/figure_text.py``);
- a full-page screenshot goes to ``<book>/../screenshots/`` (``_build/screenshots/``) for a person to look at.

Where Chromium or playwright is missing, or the book is not built, the tests are skipped with the reason;
``MHA_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns every such skip into a failure.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml
from conftest import skip_or_fail  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
BOOK = (ROOT / os.environ.get("MHA_BOOK_HTML", "_build/html")).resolve()
SCREENSHOTS = BOOK.parent / "screenshots"
TIMEOUT_MS = 60_000  # a busy 2-core machine can take many seconds to load and draw a page of figures


def _pages() -> list[str]:
    """Every HTML page of the built book, as a path relative to the book's root."""
    if not (BOOK / "index.html").is_file():
        return []
    skip_dirs = {"_static", "_sources", "_images", "_downloads"}
    return sorted(
        p.relative_to(BOOK).as_posix()
        for p in BOOK.rglob("*.html")
        if not skip_dirs.intersection(p.relative_to(BOOK).parts[:-1])
        and not any(part.startswith(".") for part in p.relative_to(BOOK).parts)  # e.g. a stray .venv-*/ built in
    )


PAGES = _pages()


# ---------------------------------------------------------------- fixtures: server and browser


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server():
    """The built book on http://127.0.0.1:<free port>/, served from a thread."""
    if not PAGES:
        skip_or_fail(f"the book is not built at {BOOK} (run `make book`, or set MHA_BOOK_HTML)")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(BOOK)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class PageLog:
    """What went wrong while a page loaded and was used: console errors, failed, blocked and HTTP-error requests."""

    def __init__(self):
        self.problems: list[str] = []

    def attach(self, page):
        # axe-core fetches the page's style sheets itself and resolves their @import against the page's URL, not
        # the sheet's (theme.css's "../basic.css" becomes /basic.css): while axe runs, its own failed
        # style-sheet fetches are not the book's problem.
        def axe_css(url: str, resource_type: str = "xhr") -> bool:
            return getattr(page, "mha_in_axe", False) and url.endswith(".css") and resource_type in ("xhr", "fetch")

        def console(m):
            if m.type == "error" and not axe_css((m.location or {}).get("url", "")):
                self.problems.append(f"console error: {m.text}")

        def response(r):
            if r.status >= 400 and not axe_css(r.url, r.request.resource_type):
                self.problems.append(f"HTTP {r.status}: {r.url}")

        page.on("console", console)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", response)


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for all pages, so plotly.js and MathJax are fetched and compiled once."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def open_page(context, server):
    """Open one page of the book with every request outside 127.0.0.1 blocked; returns (page, log)."""
    log = PageLog()
    pages = []

    def block(route):
        log.problems.append(f"blocked a request outside the book: {route.request.url}")
        route.abort()

    def _open(rel: str, base: str = server):
        page = context.new_page()
        pages.append(page)
        page.set_default_timeout(TIMEOUT_MS)
        # Only requests that leave 127.0.0.1 are intercepted (the pattern is matched inside playwright's driver).
        page.route(re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])"), block)
        log.attach(page)
        page.goto(base + rel, wait_until="load")
        if re.search(r'http-equiv="refresh"', (BOOK / rel).read_text(encoding="utf-8"), re.I):  # index.html
            page.wait_for_url(lambda url: not url.endswith(rel))
            page.wait_for_load_state("load")
        _wait_until_rendered(page)
        return page, log

    yield _open
    for page in pages:
        page.close()


# ---------------------------------------------------------------- helpers run in the page

FIGURES_JS = "Array.from(document.querySelectorAll('.plotly-graph-div'))"

WAIT_RENDERED_JS = f"""() => {{
    const figs = {FIGURES_JS};
    const drawn = figs.every(gd => gd.querySelector('.main-svg') && gd._fullLayout);
    const mathDone = !document.querySelector('.math') ||
        (window.MathJax && MathJax.startup && MathJax.startup.document &&
         document.querySelectorAll('.math').length === document.querySelectorAll('.math mjx-container').length);
    return drawn && mathDone;
}}"""

FIGURE_REPORT_JS = f"""() => {FIGURES_JS}.map(gd => {{
    const svg = gd.querySelector('.main-svg');
    const box = svg ? svg.getBoundingClientRect() : {{width: 0, height: 0}};
    return {{
        id: gd.id,
        drawn: !!svg,
        width: box.width, height: box.height,
        traces: (gd._fullData || []).length,
        marks: gd.querySelectorAll('.main-svg .trace, .main-svg .hm, .main-svg .imagelayer image').length,
        sliders: ((gd.layout || {{}}).sliders || []).length,
        menus: ((gd.layout || {{}}).updatemenus || []).length,
    }};
}})"""

MATH_REPORT_JS = """() => ({
    n: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('.math mjx-container').length,
    errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error')),
})"""

# Titles, axis titles, subplot titles (annotations), legend and colorbar texts: each inside the figure, none on another.
FIGURE_TEXT_JS = """(gd) => {
    const svg = gd.querySelector('.main-svg').getBoundingClientRect();
    const sel = '.gtitle, .annotation-text, .g-xtitle text, .g-ytitle text, .legendtext, .cbtitle text';
    const boxes = Array.from(gd.querySelectorAll(sel)).map(t => ({t: t.textContent, b: t.getBoundingClientRect()}))
                       .filter(x => x.b.width > 0 && x.t.trim());
    const problems = [];
    for (const {t, b} of boxes) {
        if (b.left < svg.left - 1 || b.right > svg.right + 1 || b.top < svg.top - 1 || b.bottom > svg.bottom + 1)
            problems.push(`text cut off at the figure's edge: ${JSON.stringify(t)}`);
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].b, c = boxes[j].b;
        if (a.left < c.right - 1 && c.left < a.right - 1 && a.top < c.bottom - 1 && c.top < a.bottom - 1)
            problems.push(`texts overlap: ${JSON.stringify(boxes[i].t)} and ${JSON.stringify(boxes[j].t)}`);
    }
    return problems;
}"""

# The figure's state without its controls' own state (which slider step or button is active).
FIGURE_STATE_JS = """(gd) => {
    const strip = (o) => JSON.parse(JSON.stringify(o, (k, v) => (k.startsWith('_') ? undefined : v)));
    const layout = strip(gd.layout || {});
    delete layout.sliders; delete layout.updatemenus;
    return JSON.stringify({data: strip(gd.data || []), layout});
}"""


def _wait_until_rendered(page):
    """Wait until the figures are drawn and the math typeset; what never finishes is reported by the checks."""
    try:
        page.wait_for_function(WAIT_RENDERED_JS, timeout=TIMEOUT_MS)
    except Exception:
        return
    if page.evaluate("!!(window.MathJax && MathJax.startup && MathJax.startup.promise)"):
        page.evaluate("MathJax.startup.promise")


# Each slider's and update menu's options as plotly laid them out: the active step (or button), the menu's type, and
# each step's label and method.
CONTROL_OPTIONS_JS = """gd => ({
    sliders: (gd._fullLayout.sliders || []).map(s => ({active: s.active, labels: s.steps.map(t => t.label),
                                                       methods: s.steps.map(t => t.method)})),
    menus: (gd._fullLayout.updatemenus || []).map(m => ({active: m.active, type: m.type,
                                                         labels: m.buttons.map(b => b.label),
                                                         methods: m.buttons.map(b => b.method)}))})"""


def _control_options(page, fig_id: str) -> dict:
    """{"sliders": [...], "menus": [...]}, the figure's controls as plotly laid them out now (CONTROL_OPTIONS_JS)."""
    return page.eval_on_selector(f"#{fig_id}", CONTROL_OPTIONS_JS)


def _figure_state(page, fig_id: str) -> str:
    return page.eval_on_selector(f"#{fig_id}", FIGURE_STATE_JS)


def _wait_for_change(page, fig_id: str, before: str) -> bool:
    """True once the figure's state differs from ``before`` (animations take a moment)."""
    try:
        page.wait_for_function(
            f"([id, before]) => ({FIGURE_STATE_JS})(document.getElementById(id)) !== before",
            arg=[fig_id, before],
            timeout=5_000,
        )
        return True
    except Exception:
        return False


def _click_slider_step(rail, ticks, step: int):
    """Click the slider's rail right above the tick of ``step``, as a reader would."""
    rail.scroll_into_view_if_needed()
    rail_box, tick_box = rail.bounding_box(), ticks.nth(step).bounding_box()
    x = tick_box["x"] + tick_box["width"] / 2 - rail_box["x"]
    rail.click(position={"x": x, "y": rail_box["height"] / 2})


def _check_sliders(page, fig_id: str, n_sliders: int, problems: list[str]):
    """Click every step of every slider (starting next to the active one): each must change the figure."""
    for s in range(n_sliders):
        opts = _control_options(page, fig_id)["sliders"][s]
        n = len(opts["methods"])
        group = page.locator(f"#{fig_id} .slider-group").nth(s)
        rail = group.locator("rect.slider-rail-touch-rect")
        ticks = group.locator("rect.slider-tick-rect")
        if n < 2 or ticks.count() != n:
            problems.append(f"figure {fig_id}: slider {s} has {n} steps and {ticks.count()} ticks drawn")
            continue
        order = list(range(opts["active"] + 1, n)) + list(range(opts["active"] - 1, -1, -1))
        for step in order:
            if opts["methods"][step] == "skip":
                continue
            before = _figure_state(page, fig_id)
            _click_slider_step(rail, ticks, step)
            active = page.eval_on_selector(f"#{fig_id}", f"gd => gd._fullLayout.sliders[{s}].active")
            if active != step:
                problems.append(f"figure {fig_id}: clicking slider {s} at step {step} selected step {active}")
            elif not _wait_for_change(page, fig_id, before):
                problems.append(f"figure {fig_id}: slider {s} step {step} ({opts['labels'][step]!r}) changes nothing")
        _click_slider_step(rail, ticks, opts["active"])  # back to the step a reader first sees, for the screenshot


def _check_menus(page, fig_id: str, n_menus: int, problems: list[str]):
    """Click every button of every update menu (dropdowns are opened first): each must change the figure."""
    for m in range(n_menus):
        opts = _control_options(page, fig_id)["menus"][m]
        header = page.locator(f"#{fig_id} .updatemenu-header-group").nth(m)
        active = opts["active"]
        order = [b for b in range(len(opts["labels"])) if b != active] + ([active] if active >= 0 else [])
        for b in order:
            if opts["methods"][b] == "skip":
                continue
            before = _figure_state(page, fig_id)
            if opts["type"] == "buttons":
                button = header.locator(".updatemenu-button").nth(b)
            else:  # dropdown: open it, then pick the button
                header.locator(".updatemenu-header").click()
                button = page.locator(f"#{fig_id} .updatemenu-dropdown-button-group .updatemenu-dropdown-button").nth(b)
            button.click()
            if not _wait_for_change(page, fig_id, before):
                problems.append(f"figure {fig_id}: menu {m} button {b} ({opts['labels'][b]!r}) changes nothing")


# ---------------------------------------------------------------- light and dark figures, keyboard controls

SET_MODE_JS = "m => { document.documentElement.dataset.theme = m; document.documentElement.dataset.mode = m; }"

# Each figure's colours as plotly drew them, with the theme's own colours to compare with.
FIGURE_COLOURS_JS = f"""() => {{
    const css = n => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
    const lum = c => {{
        const m = /^#([0-9a-f]{{6}})$/i.exec(c), r = /rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)/.exec(c);
        const rgb = m ? [0, 2, 4].map(i => parseInt(m[1].substr(i, 2), 16)) : r ? [+r[1], +r[2], +r[3]]
                  : c === 'white' ? [255, 255, 255] : c === 'black' ? [0, 0, 0] : null;
        if (!rgb) return null;
        const l = rgb.map(v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
        return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    }};
    const low = (scale, reversed) => lum((reversed ? scale[scale.length - 1] : scale[0])[1]);
    return {{background: css('--pst-color-background'), text: css('--pst-color-text-base'),
             figures: {FIGURES_JS}.map(gd => {{
        const L = gd._fullLayout;
        const scales = Object.keys(L).filter(k => /^coloraxis\\d*$/.test(k))
            .map(k => low(L[k].colorscale, L[k].reversescale))
            .concat(gd._fullData.filter(t => t.type === 'heatmap' && !t.coloraxis && t.colorscale)
                    .map(t => low(t.colorscale, t.reversescale)));
        return {{id: gd.id, paper: L.paper_bgcolor, font: L.font.color, paperLum: lum(L.paper_bgcolor),
                 plotLum: lum(L.plot_bgcolor), fontLum: lum(L.font.color), lowEnds: scales}};
    }})}};
}}"""


def _check_theme(page, problems: list[str]) -> None:
    """Figures follow the reader's light/dark switch: dark paper and light text in dark mode, colour scales whose
    low end is dark (small values quiet on the dark page), and back to their own colours in light mode."""
    page.evaluate(SET_MODE_JS, "light")
    light = page.evaluate(FIGURE_COLOURS_JS)
    if not light["figures"]:
        return
    page.evaluate(SET_MODE_JS, "dark")
    try:
        page.wait_for_function(
            f"bg => {FIGURES_JS}.every(gd => gd._fullLayout.paper_bgcolor === bg)",
            arg=page.evaluate(
                "getComputedStyle(document.documentElement).getPropertyValue('--pst-color-background')"
            ).strip(),
            timeout=10_000,
        )
    except Exception:
        pass
    dark = page.evaluate(FIGURE_COLOURS_JS)
    for fig in dark["figures"]:
        if fig["paper"] != dark["background"] or fig["font"] != dark["text"]:
            problems.append(f"figure {fig['id']} in dark mode: paper {fig['paper']}, font {fig['font']} (theme: "
                            f"background {dark['background']}, text {dark['text']})")  # fmt: skip
        elif not (fig["paperLum"] < 0.05 and fig["plotLum"] < 0.1 and fig["fontLum"] > 0.4):
            problems.append(f"figure {fig['id']} in dark mode is not dark: {fig}")
        if any(end is None or end > 0.3 for end in fig["lowEnds"]):
            problems.append(f"figure {fig['id']} in dark mode: a colour scale starts light: {fig['lowEnds']}")
    page.evaluate(SET_MODE_JS, "light")
    try:
        page.wait_for_function(
            f"paper => {FIGURES_JS}.every((gd, i) => gd._fullLayout.paper_bgcolor === paper[i])",
            arg=[f["paper"] for f in light["figures"]],
            timeout=10_000,
        )
    except Exception:
        pass
    back = page.evaluate(FIGURE_COLOURS_JS)
    for before, after in zip(light["figures"], back["figures"]):
        if before != after:
            problems.append(f"figure {before['id']} back in light mode differs: {before} -> {after}")


CONTROLS_JS = """gd => Array.from(gd.querySelectorAll('.mha-control')).filter(c => c.style.display !== 'none')
  .map(c => ({
    slider: c.dataset.slider === undefined ? null : +c.dataset.slider,
    menu: c.dataset.menu === undefined ? null : +c.dataset.menu,
    button: c.dataset.button === undefined ? null : +c.dataset.button,
    role: c.getAttribute('role') || c.tagName.toLowerCase(), name: c.getAttribute('aria-label') || '',
    now: c.getAttribute('aria-valuenow'), max: c.getAttribute('aria-valuemax'), text: c.getAttribute('aria-valuetext'),
    pressed: c.getAttribute('aria-pressed')}))"""

FOCUSED_JS = """() => { const c = document.activeElement; if (!c || !c.classList.contains('mha-control')) return null;
    const s = getComputedStyle(c);
    return {slider: c.dataset.slider === undefined ? null : +c.dataset.slider,
            menu: c.dataset.menu === undefined ? null : +c.dataset.menu,
            button: c.dataset.button === undefined ? null : +c.dataset.button,
            outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
            figure: c.closest('.plotly-graph-div').id}; }"""


def _key(page, fig_id: str, key: str) -> tuple[bool, str]:
    before = _figure_state(page, fig_id)
    page.keyboard.press(key)
    return _wait_for_change(page, fig_id, before), before


def _check_keyboard(page, fig_id: str, problems: list[str]) -> None:
    """Every slider and menu button of the figure is reached with Tab (with a visible focus outline) and works
    from the keyboard alone: arrows, Home and End move a slider, Enter and Space press a button; each changes the
    figure and updates the control's ARIA state."""
    controls = page.eval_on_selector(f"#{fig_id}", CONTROLS_JS)
    full = _control_options(page, fig_id)
    wanted = len(full["sliders"]) + sum(len(m["methods"]) if m["type"] == "buttons" else 1 for m in full["menus"])
    if len(controls) != wanted:
        problems.append(f"figure {fig_id}: {len(controls)} keyboard controls for {wanted} sliders and buttons")
        return
    # Tab from just before the figure reaches every control in turn, each with a visible focus outline
    page.eval_on_selector(
        f"#{fig_id}",
        """gd => { const s = document.createElement('span'); s.tabIndex = 0; s.id = 'mha-tab-start';
                   gd.parentNode.insertBefore(s, gd); s.focus(); }""",
    )
    reached = []
    for _ in controls:  # the controls come first in the figure, before plotly's toolbar
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if not focused or focused["figure"] != fig_id:
            where = page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
            problems.append(f"figure {fig_id}: Tab reached {len(reached)} of {len(controls)} controls, then {where}")
            break
        if not focused["outline"]:
            problems.append(f"figure {fig_id}: the focused control {focused} shows no focus outline")
        reached.append(focused)
    page.evaluate("document.getElementById('mha-tab-start').remove()")
    for c in controls:
        if c["role"] not in ("slider", "button") or not c["name"].strip():
            problems.append(f"figure {fig_id}: a control with no role or name: {c}")

    for s, opts in enumerate(full["sliders"]):
        control = page.locator(f"#{fig_id} .mha-control[data-slider='{s}']")
        control.focus()
        n, start = len(opts["labels"]), opts["active"]
        # End, then Left arrow down to the first step, then Home ... back to where the reader started with Right
        keys = ["End"] + ["ArrowLeft"] * (n - 1) + ["End", "Home"] + ["ArrowRight"] * start
        expected, where = [], start
        for key in keys:
            where = {"End": n - 1, "Home": 0, "ArrowLeft": max(where - 1, 0), "ArrowRight": min(where + 1, n - 1)}[key]
            expected.append(where)
        position = start
        for key, to in zip(keys, expected):
            changed, _ = _key(page, fig_id, key)
            if to != position and opts["methods"][to] != "skip" and not changed:
                problems.append(f"figure {fig_id}: slider {s}, key {key} to step {to} changes nothing")
            now = control.get_attribute("aria-valuenow")
            active = page.eval_on_selector(f"#{fig_id}", f"gd => gd._fullLayout.sliders[{s}].active")
            text = control.get_attribute("aria-valuetext") or ""
            if now != str(to) or active != to or not text.endswith(str(opts["labels"][to])):
                problems.append(f"figure {fig_id}: slider {s}, key {key}: expected step {to}, "
                                f"active {active}, aria-valuenow {now}, aria-valuetext {text!r}")  # fmt: skip
                break
            position = to

    for m, menu in enumerate(full["menus"]):
        if menu["type"] != "buttons":
            continue
        order = [b for b in range(len(menu["methods"])) if b != menu["active"]] + [max(menu["active"], 0)]
        page.locator(f"#{fig_id} .mha-control[data-menu='{m}'][data-button='0']").focus()
        at = 0
        for i, b in enumerate(order):
            while at != b:  # the arrow keys move between the buttons of one menu
                page.keyboard.press("ArrowRight")
                at = (at + 1) % len(menu["methods"])
            changed, _ = _key(page, fig_id, "Enter" if i % 2 == 0 else " ")
            pressed = page.locator(f"#{fig_id} .mha-control[data-menu='{m}'][data-button='{b}']")
            if menu["methods"][b] != "skip" and b != menu["active"] and not changed:
                problems.append(f"figure {fig_id}: menu {m} button {b}: Enter/Space changes nothing")
            if pressed.get_attribute("aria-pressed") != "true" or page.evaluate(FOCUSED_JS)["button"] != b:
                problems.append(f"figure {fig_id}: menu {m} button {b} pressed from the keyboard is not marked pressed")


TOGGLES_JS = """() => {
    // Everything a reader has to open: sphinx-exercise solutions, togglebutton admonitions,
    // myst-nb hidden cells (<details class="hide">) and sphinx-design dropdowns.
    const found = [];
    document.querySelectorAll('.solution, .toggle, .admonition.dropdown, details').forEach(el => {
        if (found.some(f => f.contains(el))) return;
        found.push(el);
    });
    return found.map((el, i) => {
        el.setAttribute('data-mha-toggle', String(i));
        return {index: i, tag: el.tagName.toLowerCase(), cls: el.className,
                solution: el.matches('.solution, .tag_solution') || !!el.querySelector('.solution, .tag_solution')};
    });
}"""

# The content a reader opens: the element's children except its title, summary or toggle button.
TOGGLE_CONTENT_JS = """(el) => {
    const kids = Array.from(el.children).filter(k =>
        !k.matches('summary, .admonition-title, button.toggle-button, .toggle-button'));
    // checkVisibility() also sees through a closed <details> (content-visibility: hidden in Chrome).
    const visible = kids.filter(k => k.checkVisibility({opacityProperty: true, visibilityProperty: true})
                                     && k.getBoundingClientRect().height > 0);
    return {n: kids.length, visible: visible.length,
            text: kids.map(k => k.innerText || '').join(' ').trim().slice(0, 60)};
}"""


def _check_toggles(page, problems: list[str]) -> int:
    toggles = page.evaluate(TOGGLES_JS)
    for t in toggles:
        el = page.locator(f"[data-mha-toggle='{t['index']}']")
        what = f"{'solution' if t['solution'] else 'hidden block'} {t['index']} ({t['tag']}.{t['cls']})"
        before = el.evaluate(TOGGLE_CONTENT_JS)
        if before["n"] == 0:
            problems.append(f"{what}: has no content to open")
            continue
        if before["visible"]:
            problems.append(f"{what}: its content is visible before it is opened: {before['text']!r}")
            continue
        if t["tag"] == "details":
            el.locator(":scope > summary").click()
        elif el.locator(".toggle-button").count():
            el.locator(".toggle-button").first.click()
        else:
            el.locator(".admonition-title").first.click()
        try:
            el.evaluate(
                f"el => new Promise((ok, fail) => {{ const t0 = Date.now(); (function poll() {{"
                f" const r = ({TOGGLE_CONTENT_JS})(el); if (r.visible === r.n) ok(); else if (Date.now() - t0 > 3000)"
                f" fail(new Error('still hidden')); else setTimeout(poll, 50); }})(); }})"
            )
        except Exception:
            problems.append(f"{what}: clicking its toggle does not show its content")
    return len(toggles)


# ---------------------------------------------------------------- static checks of the HTML


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    html = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", html))


def _check_links(page, server: str, problems: list[str]) -> int:
    """Every href into the book names a file that exists and, with a #fragment, an anchor in it."""
    hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    checked = 0
    for href in set(hrefs):
        url = urlparse(urljoin(page.url, href))  # page.url: where the page ended up (index.html redirects)
        if url.scheme not in ("http", "https") or url.netloc != urlparse(server).netloc:
            continue  # external links (repository, Colab, Binder) are checked by test_launch_buttons
        target = BOOK / unquote(url.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        checked += 1
        if not target.is_file():
            problems.append(f"link {href!r} points to a missing file {target.relative_to(BOOK)}")
        elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _anchors(target):
            problems.append(f"link {href!r}: no anchor #{url.fragment} in {target.relative_to(BOOK)}")
    return checked


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("rel", PAGES or ["(book not built)"])
def test_page_in_browser(open_page, server, rel, record_property):
    page, log = open_page(rel)
    problems: list[str] = []

    figures = page.evaluate(FIGURE_REPORT_JS)
    for fig in figures:
        if not (fig["drawn"] and fig["width"] > 0 and fig["height"] > 0 and fig["traces"] and fig["marks"]):
            problems.append(f"figure {fig['id']} is not drawn: {json.dumps(fig)}")
            continue
        gd = f"#{fig['id']}"
        title = page.eval_on_selector(gd, "gd => (gd.querySelector('.gtitle') || {}).textContent || ''")
        problems += [f"figure {fig['id']} ({title!r}): {p}" for p in page.eval_on_selector(gd, FIGURE_TEXT_JS)]
        _check_sliders(page, fig["id"], fig["sliders"], problems)
        _check_menus(page, fig["id"], fig["menus"], problems)
        if fig["sliders"] or fig["menus"]:
            _check_keyboard(page, fig["id"], problems)

    math = page.evaluate(MATH_REPORT_JS)
    if math["typeset"] != math["n"]:
        problems.append(f"{math['n'] - math['typeset']} of {math['n']} math elements are not typeset")
    problems += [f"TeX error: {e}" for e in math["errors"]]

    n_links = _check_links(page, server, problems)
    n_toggles = _check_toggles(page, problems)
    _check_theme(page, problems)
    _check_accessibility(page, problems)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    # A full-page capture resizes the window, and plotly's responsive figures would redraw during it (caught
    # half-drawn): let them settle, then detach their resize handlers (only the height changes) and take the picture.
    page.evaluate(
        f"""() => window.Plotly && Promise.all({FIGURES_JS}.map(gd => Plotly.Plots.resize(gd))).then(() =>
            {FIGURES_JS}.forEach(gd => gd._responsiveChartHandler &&
                window.removeEventListener('resize', gd._responsiveChartHandler)))"""
    )
    page.screenshot(path=str(SCREENSHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)

    problems += log.problems
    summary = (
        f"{len(figures)} figures ({sum(f['sliders'] for f in figures)} sliders, "
        f"{sum(f['menus'] for f in figures)} menus), {math['n']} math, {n_links} links, {n_toggles} toggles"
    )
    record_property("checked", summary)
    print(f"{rel}: {summary}")
    assert not problems, f"{rel} ({summary}):\n  " + "\n  ".join(problems)


def test_pages_work_over_file_urls(open_page):
    """`make book` opens index.html as a file: figures and math must work without a web server too."""
    rels = ["index.html"] + [rel for rel in PAGES if rel.startswith("notebooks/")][:1]  # what `make book` opens
    for rel in rels:
        page, log = open_page(rel, base=BOOK.as_uri() + "/")
        figures, math = page.evaluate(FIGURE_REPORT_JS), page.evaluate(MATH_REPORT_JS)
        undrawn = [f["id"] for f in figures if not (f["drawn"] and f["marks"])]
        assert not undrawn, f"{rel} over file://: figures not drawn: {undrawn}"
        assert math["typeset"] == math["n"], f"{rel} over file://: math typeset {math['typeset']} of {math['n']}"
        assert not log.problems, f"{rel} over file://:\n  " + "\n  ".join(log.problems)


def test_figures_follow_the_theme_switch(browser, server):
    """A reader who chose dark mode gets dark figures from the start; the theme's own switch button in the header
    turns them light again (and the keyboard controls stay in place)."""
    rel = next((p for p in PAGES if "Plotly.newPlot(" in (BOOK / p).read_text(encoding="utf-8")), None)
    if rel is None:
        pytest.skip("no page of the book has a figure")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.route(re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        page.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
        page.goto(server + rel, wait_until="load")
        _wait_until_rendered(page)
        page.wait_for_function(f"() => {FIGURES_JS}.every(gd => gd._mhaTheme && gd._mhaTheme.clean)")
        dark = page.evaluate(FIGURE_COLOURS_JS)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert dark["figures"] and all(
            f["paper"] == dark["background"] and f["font"] == dark["text"] and f["paperLum"] < 0.05
            for f in dark["figures"]
        ), f"{rel}: figures drawn in dark mode are not dark: {dark}"
        switch = page.locator(".theme-switch-button:visible").first
        for _ in range(3):  # the switch cycles through the theme's modes: light, dark and the system's choice
            if page.evaluate("document.documentElement.dataset.theme") == "light":
                break
            switch.click()
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        page.wait_for_function(
            f"() => {FIGURES_JS}.every(gd => gd._mhaTheme && gd._mhaTheme.clean && !gd._mhaTheme.dark)"
        )
        light = page.evaluate(FIGURE_COLOURS_JS)
        assert all(f["paperLum"] > 0.8 and f["fontLum"] < 0.2 for f in light["figures"]), (
            f"{rel}: after the switch to light mode the figures stay dark: {light}"
        )
    finally:
        context.close()


# ---------------------------------------------------------------- speed over a phone-like connection

FCP_TARGET_MS = 1500  # first contentful paint at 9 Mbit/s and 40 ms latency, served gzipped as GitHub Pages does


def test_pages_paint_fast_on_a_slow_connection(browser):
    """Every page of the table of contents paints its first text within FCP_TARGET_MS over a throttled, gzipped
    connection (best of two cold loads, so that one stall of a busy machine does not count), pages without a figure
    request no plotly.js, and every figure is drawn. The same measurement as ``benchmarks/bench_book.py``."""
    if not PAGES:
        skip_or_fail(f"the book is not built at {BOOK} (run `make book`, or set MHA_BOOK_HTML)")
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_book

    base, httpd = bench_book.serve(BOOK)
    try:
        problems, rows = [], {}
        for rel in bench_book.book_pages(BOOK):
            html = (BOOK / rel).read_text(encoding="utf-8")
            n_figures = len(re.findall(r'<div id="[^"]+"[^>]* class="plotly-graph-div"', html))
            run = bench_book.measure_page(browser, base + rel)
            if run["fcp_ms"] is None or run["fcp_ms"] > FCP_TARGET_MS:  # a second chance on a busy machine
                again = bench_book.measure_page(browser, base + rel)
                run = min(run, again, key=lambda r: r["fcp_ms"] if r["fcp_ms"] is not None else float("inf"))
            rows[rel] = run
            if run["fcp_ms"] is None or run["fcp_ms"] > FCP_TARGET_MS:
                problems.append(f"{rel}: first contentful paint after {run['fcp_ms']} ms (target {FCP_TARGET_MS} ms)")
            if run["figures"] != n_figures:
                problems.append(f"{rel}: {run['figures']} figures drawn of {n_figures}")
            if not n_figures and run["plotly"]:
                problems.append(f"{rel}: has no figure but requests plotly.js")
            if n_figures and not run["plotly"]:
                problems.append(f"{rel}: has figures but requested no plotly.js")
        print(bench_book.format_table(rows))
        assert not problems, "\n  ".join(["pages too slow at 9 Mbit/s, 40 ms:"] + problems)
    finally:
        httpd.shutdown()
        httpd.server_close()


def _launch_urls(notebook_rel: str) -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    owner_name = urlparse(repo["url"]).path.strip("/")
    branch = repo.get("branch", "main")
    colab = f"{config['launch_buttons']['colab_url']}/github/{owner_name}/blob/{branch}/{notebook_rel}"
    binder = f"{config['launch_buttons']['binderhub_url']}/v2/gh/{owner_name}/{branch}?urlpath=lab/tree/{notebook_rel}"
    return colab, binder


NOTEBOOK_PAGES = [p for p in PAGES if p.startswith("notebooks/")]


@pytest.mark.parametrize("rel", NOTEBOOK_PAGES or ["(book not built)"])
def test_launch_buttons(rel):
    """Every notebook page has Colab and Binder buttons that open that notebook from the repository's URL."""
    if not NOTEBOOK_PAGES:
        skip_or_fail(f"the book is not built at {BOOK} (run `make book`, or set MHA_BOOK_HTML)")
    html = (BOOK / rel).read_text(encoding="utf-8")
    notebook = rel.removesuffix(".html") + ".ipynb"
    assert (ROOT / notebook).is_file(), f"{rel} has no notebook {notebook} in the repository"
    hrefs = set(re.findall(r'href="([^"]+)"', html))
    colab, binder = _launch_urls(notebook)
    assert colab in hrefs, f"{rel}: no Colab button to {colab}; launch links: {[h for h in hrefs if 'colab' in h]}"
    assert binder.replace("&", "&amp;") in hrefs or binder in hrefs, (
        f"{rel}: no Binder button to {binder}; launch links: {[h for h in hrefs if 'binder' in h]}"
    )


def test_mathjax_is_served_by_the_book():
    """No page loads MathJax (or anything else) from a CDN: the script is in _static/."""
    if not PAGES:
        skip_or_fail(f"the book is not built at {BOOK} (run `make book`, or set MHA_BOOK_HTML)")
    for rel in PAGES:
        html = (BOOK / rel).read_text(encoding="utf-8")
        remote = re.findall(r'<script[^>]+src="(https?://[^"]+)"', html)
        assert not remote, f"{rel} loads scripts from the internet: {remote}"
    assert (BOOK / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()


# ---------------------------------------------------------------- accessibility

FIGURE_TEXT_ALTERNATIVES_JS = f"""() => {FIGURES_JS}.map(gd => {{
    const described = document.getElementById(gd.getAttribute('aria-describedby') || '');
    const data = document.querySelector(`details.mha-figure-data[data-figure="${{gd.id}}"]`);
    return {{id: gd.id, role: gd.getAttribute('role'), name: gd.getAttribute('aria-label') || '',
             description: described ? described.textContent.trim() : '',
             tables: data ? data.querySelectorAll('table').length : 0,
             cells: data ? data.querySelectorAll('td').length : 0}};
}})"""


def _axe_script() -> str:
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        skip_or_fail("the python package axe-playwright-python is not installed (pip install -r requirements.txt)")
    return Axe().axe_script


def _check_accessibility(page, problems: list[str]) -> None:
    """axe-core (WCAG 2.1 A and AA rules and best practices) finds nothing, in the theme's light and dark mode;
    every figure is named and described, and its numbers are in tables a screen reader can read."""
    axe = _axe_script()
    for mode in ("light", "dark"):
        page.evaluate(
            f"document.documentElement.dataset.theme = '{mode}'; document.documentElement.dataset.mode = '{mode}'"
        )
        page.wait_for_timeout(200)  # the theme's colours change through CSS variables
        page.mha_in_axe = True
        violations = page.evaluate(
            axe
            + """; axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help,
                  where: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"""
        )
        page.wait_for_timeout(100)  # let the failed fetches of axe's style sheets be reported while it is set
        page.mha_in_axe = False
        problems += [f"axe, {mode} mode: {v['id']} ({v['impact']}): {v['help']} at {v['where']}" for v in violations]
    page.evaluate("document.documentElement.dataset.theme = 'light'; document.documentElement.dataset.mode = 'light'")
    for fig in page.evaluate(FIGURE_TEXT_ALTERNATIVES_JS):
        if fig["role"] != "figure" or not fig["name"].strip() or fig["name"] == "Figure":
            problems.append(f"figure {fig['id']} has no accessible name: {fig}")
        if len(fig["description"]) < 20:
            problems.append(f"figure {fig['id']} has no description: {fig}")
        if not (fig["tables"] and fig["cells"]):
            problems.append(f"figure {fig['id']} has no table of its numbers: {fig}")
