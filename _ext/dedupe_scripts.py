"""Sphinx extension: load each script of a page once.

sphinx-thebe adds its inline ``const THEBE_JS_URL = ...`` script during the build; Sphinx 7 then holds it
twice (once with filename ``None``, once with ``''``), and the second copy throws "Identifier 'THEBE_JS_URL'
has already been declared" in every page's console. This drops such exact duplicates from each page.
"""


def _key(script):
    return (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script) if hasattr(script, "attributes") else (str(script),)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)  # after every extension has added its scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
