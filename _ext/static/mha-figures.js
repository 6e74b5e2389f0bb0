/* The book's plotly figures for every reader (inlined into each page with figures by _ext/plotly_offline.py).
 *
 * mhaFigures.install(Plotly) wraps Plotly.newPlot: once a figure is drawn it
 * - follows the theme's light or dark mode (the <html> element's data-theme / data-mode attributes), also when the
 *   reader switches it on the page: paper, plot, font, grid and axis colours come from the theme's CSS variables;
 *   dark greys of lines and texts become light ones; colour scales that run from white to dark run from dark to
 *   white, so that small values sit quietly on the dark page and large ones stand out;
 * - gets keyboard controls for its sliders and buttons: transparent HTML controls over plotly's own (which a
 *   keyboard cannot reach), reached with Tab, with a visible focus outline. A slider (role="slider") moves with the
 *   arrow keys, Page Up/Down, Home and End; a button is pressed with Enter or Space, and the arrow keys move between
 *   the buttons of one menu. Each does what a click on plotly's control does: the step's or button's method and
 *   arguments, and the control's active index.
 */
(function () {
  "use strict";
  var LIGHT_MENU_TEXT = "#2a3f5f"; // plotly's own text colour: menu buttons stay light in dark mode

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function isDark() {
    var root = document.documentElement;
    var theme = root.getAttribute("data-theme") || root.getAttribute("data-mode");
    if (theme === "dark") return true;
    if (theme === "light") return false;
    return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  // ------------------------------------------------------------------ colours

  var NAMED = {black: [0, 0, 0], white: [255, 255, 255], gray: [128, 128, 128], grey: [128, 128, 128]};

  function parseColour(c) {
    if (typeof c !== "string") return null;
    c = c.trim().toLowerCase();
    if (NAMED[c]) return NAMED[c];
    var m = /^#([0-9a-f]{3})$/.exec(c);
    if (m) return m[1].split("").map(function (h) { return parseInt(h + h, 16); });
    m = /^#([0-9a-f]{6})$/.exec(c);
    if (m) return [0, 2, 4].map(function (i) { return parseInt(m[1].substr(i, 2), 16); });
    m = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)/.exec(c);
    if (m) return [+m[1], +m[2], +m[3]];
    return null;
  }

  function luminance(c) {
    var rgb = parseColour(c);
    if (!rgb) return null;
    var lin = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  }

  function hex(v) { return ("0" + Math.round(v).toString(16)).slice(-2); }

  // A grey drawn for a white page, for a dark one: black becomes the text colour, dark greys light ones, and
  // light greys (used to dim) a dim grey that still shows. Other colours are kept.
  function darkGrey(c, text) {
    if (Array.isArray(c)) return c.map(function (x) { return darkGrey(x, text); });
    var rgb = parseColour(c);
    if (!rgb || Math.max(rgb[0], rgb[1], rgb[2]) - Math.min(rgb[0], rgb[1], rgb[2]) > 12) return c;
    var v = 255 - (rgb[0] + rgb[1] + rgb[2]) / 3;
    if (v >= 200) return text;
    v = Math.max(v, 112);
    return "#" + hex(v) + hex(v) + hex(v);
  }

  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  // A colour scale [[0, c0], ..., [1, c1]] that runs from near white to dark (a sequential scale for a white page).
  function whiteToDark(scale) {
    if (!Array.isArray(scale) || scale.length < 2) return false;
    var lo = luminance(scale[0][1]), hi = luminance(scale[scale.length - 1][1]);
    return lo !== null && hi !== null && lo > 0.7 && hi < 0.3;
  }

  function themeLayout(gd, dark) {
    var full = gd._fullLayout, layout = gd.layout, state = gd._mhaTheme;
    var want = {};
    if (dark) {
      var bg = cssVar("--pst-color-background", "#14181e"), plot = cssVar("--pst-color-on-background", "#222832");
      var text = cssVar("--pst-color-text-base", "#ced6dd"), grid = cssVar("--pst-color-border", "#48566b");
      want.paper_bgcolor = bg;
      want.plot_bgcolor = plot;
      want["font.color"] = text;
      Object.keys(full).filter(function (k) { return /^[xy]axis\d*$/.test(k); }).forEach(function (k) {
        want[k + ".gridcolor"] = grid;
        want[k + ".zerolinecolor"] = grid;
        want[k + ".linecolor"] = grid;
      });
      (full.sliders || []).forEach(function (s, i) {
        want["sliders[" + i + "].font.color"] = text;
        want["sliders[" + i + "].tickcolor"] = text;
      });
      (full.updatemenus || []).forEach(function (m, i) { want["updatemenus[" + i + "].font.color"] = LIGHT_MENU_TEXT; });
    }
    // what differs from the wanted state; in light mode: put back what dark mode changed
    var update = {};
    if (dark) {
      Object.keys(want).forEach(function (k) {
        var cur = get(layout, k.replace(/\[(\d+)\]/g, ".$1"));
        if (!same(cur, want[k])) {
          if (!(k in state.light)) state.light[k] = cur === undefined ? null : cur;
          update[k] = want[k];
        }
      });
    } else {
      Object.keys(state.light).forEach(function (k) {
        var cur = get(layout, k.replace(/\[(\d+)\]/g, ".$1"));
        if (!same(cur, state.light[k] === null ? undefined : state.light[k])) update[k] = state.light[k];
      });
      state.light = {};
    }
    // colour axes: white-to-dark scales are reversed in dark mode
    Object.keys(full).filter(function (k) { return /^coloraxis\d*$/.test(k); }).forEach(function (k) {
      var flipped = !!(layout[k] && layout[k].reversescale);
      if (dark && !flipped && whiteToDark(full[k].colorscale)) { update[k + ".reversescale"] = true; state.flipped[k] = true; }
      if (!dark && flipped && state.flipped[k]) { update[k + ".reversescale"] = null; delete state.flipped[k]; }
    });
    return update;
  }

  function themeTraces(gd, dark) {
    var text = cssVar("--pst-color-text-base", "#ced6dd");
    var edits = []; // [attribute, value, trace index]
    (gd.data || []).forEach(function (trace, i) {
      var full = (gd._fullData || []).filter(function (f) { return f.index === i; })[0];
      var mine = trace._mha || (trace._mha = {light: {}, dark: {}, flipped: false});
      if (trace.type === "heatmap" || trace.type === "contour") {
        if (dark && !trace.reversescale && !trace.coloraxis && full && whiteToDark(full.colorscale)) {
          edits.push(["reversescale", true, i]);
          mine.flipped = true;
        } else if (!dark && mine.flipped && trace.reversescale) {
          edits.push(["reversescale", false, i]);
          mine.flipped = false;
        }
        return;
      }
      ["line.color", "marker.color", "textfont.color"].forEach(function (attr) {
        var cur = get(trace, attr);
        if (cur === undefined) return;
        if (dark) {
          if (attr in mine.dark && same(cur, mine.dark[attr])) return;
          var d = darkGrey(cur, text);
          if (same(d, cur)) return;
          mine.light[attr] = cur;
          mine.dark[attr] = d;
          edits.push([attr, d, i]);
        } else if (attr in mine.dark && same(cur, mine.dark[attr])) {
          edits.push([attr, mine.light[attr], i]);
          delete mine.dark[attr];
        }
      });
    });
    return edits;
  }

  function applyTheme(gd) {
    if (!gd._fullLayout || gd._mhaApplying) return Promise.resolve();
    var Plotly = window.Plotly, dark = isDark();
    gd._mhaTheme = gd._mhaTheme || {light: {}, flipped: {}};
    if (gd._mhaTheme.dark === dark && gd._mhaTheme.clean) return Promise.resolve();
    var layout = themeLayout(gd, dark), edits = themeTraces(gd, dark);
    gd._mhaTheme.dark = dark;
    if (!Object.keys(layout).length && !edits.length) { gd._mhaTheme.clean = true; return Promise.resolve(); }
    gd._mhaApplying = true;
    var chain = Promise.resolve();
    edits.forEach(function (e) {
      chain = chain.then(function () {
        var upd = {};
        upd[e[0]] = [e[1]];
        return Plotly.restyle(gd, upd, [e[2]]);
      });
    });
    return chain
      .then(function () { return Object.keys(layout).length ? Plotly.relayout(gd, layout) : null; })
      .then(function () { gd._mhaApplying = false; gd._mhaTheme.clean = true; },
            function (err) { gd._mhaApplying = false; throw err; });
  }

  // ------------------------------------------------------------------ keyboard controls

  var STYLE = ".mha-controls{position:absolute;left:0;top:0;width:0;height:0;}" +
    ".mha-control{position:absolute;margin:0;padding:0;border:0;background:transparent;color:transparent;" +
    "pointer-events:none;font-size:1px;overflow:hidden;}" +
    ".mha-control:focus{outline:none;}" +
    ".mha-control:focus-visible{outline:3px solid var(--pst-color-accent,#c132af);outline-offset:2px;}";

  function addStyle() {
    if (document.getElementById("mha-figure-controls-style")) return;
    var s = document.createElement("style");
    s.id = "mha-figure-controls-style";
    s.textContent = STYLE;
    document.head.appendChild(s);
  }

  function stripTags(s) { return String(s == null ? "" : s).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim(); }

  function sliderName(opts, i) {
    var prefix = stripTags(opts.currentvalue && opts.currentvalue.prefix).replace(/[\s:=]+$/, "");
    return prefix || "slider " + (i + 1);
  }

  function place(el, target, gd) {
    if (!target) { el.style.display = "none"; return; }
    var box = target.getBoundingClientRect(), origin = gd.getBoundingClientRect();
    el.style.display = "";
    el.style.left = (box.left - origin.left) + "px";
    el.style.top = (box.top - origin.top) + "px";
    el.style.width = Math.max(box.width, 8) + "px";
    el.style.height = Math.max(box.height, 8) + "px";
  }

  function execute(gd, method, args) {
    if (!method || method === "skip") return Promise.resolve();
    var Plotly = window.Plotly;
    if (typeof Plotly[method] !== "function") return Promise.reject(new Error("no Plotly." + method));
    return Promise.resolve(Plotly[method].apply(null, [gd].concat(args || [])));
  }

  function setSlider(gd, i, index) {
    var opts = gd._fullLayout.sliders[i], steps = opts.steps.filter(function (s) { return s.visible !== false; });
    index = Math.max(0, Math.min(steps.length - 1, index));
    if (index === opts.active) return Promise.resolve();
    var step = steps[index], upd = {};
    upd["sliders[" + i + "].active"] = index;
    return window.Plotly.relayout(gd, upd).then(function () {
      gd.emit && gd.emit("plotly_sliderchange", {slider: opts, step: step, interaction: true, previousActive: opts.active});
      return execute(gd, step.method, step.args);
    }).then(function () { syncControls(gd); });
  }

  function pressButton(gd, m, b) {
    var menu = gd._fullLayout.updatemenus[m], button = menu.buttons[b], upd = {};
    upd["updatemenus[" + m + "].active"] = b;
    return window.Plotly.relayout(gd, upd).then(function () {
      gd.emit && gd.emit("plotly_buttonclicked", {menu: menu, button: button, active: b});
      return execute(gd, button.method, button.args);
    }).then(function () { syncControls(gd); });
  }

  function sliderKeys(gd, i) {
    return function (ev) {
      var opts = gd._fullLayout.sliders[i], n = opts.steps.length, a = opts.active, to = null;
      var page = Math.max(1, Math.round(n / 10));
      switch (ev.key) {
        case "ArrowRight": case "ArrowUp": to = a + 1; break;
        case "ArrowLeft": case "ArrowDown": to = a - 1; break;
        case "PageUp": to = a + page; break;
        case "PageDown": to = a - page; break;
        case "Home": to = 0; break;
        case "End": to = n - 1; break;
        default: return;
      }
      ev.preventDefault();
      setSlider(gd, i, to);
    };
  }

  function buttonKeys(gd, m, b) {
    return function (ev) {
      var n = gd._fullLayout.updatemenus[m].buttons.length, to = null;
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pressButton(gd, m, b); return; }
      if (ev.key === "ArrowRight" || ev.key === "ArrowDown") to = (b + 1) % n;
      else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") to = (b - 1 + n) % n;
      else if (ev.key === "Home") to = 0;
      else if (ev.key === "End") to = n - 1;
      else return;
      ev.preventDefault();
      var next = gd.querySelector('.mha-control[data-menu="' + m + '"][data-button="' + to + '"]');
      if (next) next.focus();
    };
  }

  // Build (once) and update the controls: their names, values and places follow the figure after every redraw.
  function syncControls(gd) {
    var full = gd._fullLayout;
    if (!full) return;
    var sliders = full.sliders || [], menus = full.updatemenus || [];
    if (!sliders.length && !menus.length) return;
    addStyle();
    var layer = gd.querySelector(":scope > .mha-controls");
    if (!layer) {
      layer = document.createElement("div");
      layer.className = "mha-controls";
      if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
      gd.insertBefore(layer, gd.firstChild); // before plotly's toolbar: Tab reaches the figure's own controls first
    }
    menus.forEach(function (menu, m) {
      var group = gd.querySelectorAll(".updatemenu-header-group")[m];
      var drawn = group ? group.querySelectorAll(".updatemenu-button") : [];
      menu.buttons.forEach(function (button, b) {
        var el = layer.querySelector('[data-menu="' + m + '"][data-button="' + b + '"]');
        if (!el) {
          el = document.createElement("button");
          el.type = "button";
          el.className = "mha-control";
          el.setAttribute("data-menu", m);
          el.setAttribute("data-button", b);
          el.addEventListener("keydown", buttonKeys(gd, m, b));
          el.addEventListener("click", function () { pressButton(gd, m, b); });
          layer.appendChild(el);
        }
        el.setAttribute("aria-label", stripTags(button.label));
        el.setAttribute("aria-pressed", String(menu.active === b));
        place(el, menu.type === "buttons" ? drawn[b] : (group && group.querySelector(".updatemenu-header")), gd);
        if (menu.type !== "buttons" && b > 0) el.style.display = "none"; // a dropdown: one control, arrows choose
      });
    });
    sliders.forEach(function (opts, i) {
      var el = layer.querySelector('[data-slider="' + i + '"]');
      if (!el) {
        el = document.createElement("div");
        el.className = "mha-control";
        el.tabIndex = 0;
        el.setAttribute("role", "slider");
        el.setAttribute("data-slider", i);
        el.setAttribute("aria-valuemin", "0");
        el.addEventListener("keydown", sliderKeys(gd, i));
        layer.appendChild(el);
      }
      var name = sliderName(opts, i), step = opts.steps[opts.active] || {};
      el.setAttribute("aria-label", name);
      el.setAttribute("aria-valuemax", String(opts.steps.length - 1));
      el.setAttribute("aria-valuenow", String(opts.active));
      el.setAttribute("aria-valuetext", name + " = " + stripTags(step.label));
      place(el, gd.querySelectorAll(".slider-group")[i], gd);
    });
  }

  // ------------------------------------------------------------------ wiring

  var figures = [];

  function attach(gd) {
    if (!gd || gd._mhaAttached) return;
    gd._mhaAttached = true;
    figures.push(gd);
    var pending = false;
    function later() {
      if (pending) return;
      pending = true;
      setTimeout(function () {
        pending = false;
        if (gd._mhaTheme) gd._mhaTheme.clean = false;
        applyTheme(gd);
      }, 0);
    }
    ["plotly_update", "plotly_restyle", "plotly_relayout"].forEach(function (ev) {
      gd.on(ev, function () { if (!gd._mhaApplying) later(); });
    });
    gd.on("plotly_afterplot", function () { syncControls(gd); });
    applyTheme(gd).then(function () { syncControls(gd); });
  }

  var observer = null;
  function watchTheme() {
    if (observer) return;
    observer = new MutationObserver(function () {
      figures.forEach(function (gd) { if (gd._mhaTheme) gd._mhaTheme.clean = false; applyTheme(gd); });
    });
    observer.observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme", "data-mode"]});
    if (window.matchMedia) {
      var q = window.matchMedia("(prefers-color-scheme: dark)");
      var onChange = function () { figures.forEach(function (gd) { if (gd._mhaTheme) gd._mhaTheme.clean = false; applyTheme(gd); }); };
      if (q.addEventListener) q.addEventListener("change", onChange);
    }
  }

  window.mhaFigures = {
    install: function (Plotly) {
      var newPlot = Plotly.newPlot;
      Plotly.newPlot = function () {
        return newPlot.apply(this, arguments).then(function (gd) { attach(gd); return gd; });
      };
      watchTheme();
    },
    applyTheme: applyTheme,
    syncControls: syncControls,
    isDark: isDark,
  };
})();
