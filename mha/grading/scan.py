"""Reading the submitted cells: what a learner's code does that the grader cannot prevent, named for the instructor.

The verdicts never depend on this scan (the checks run in the grader's process on values from the kernel). It only
names, in the grade's notes, cells that change modules (``torch.softmax = ...``), reach for the grader or its files
(``atexit``, ``os._exit``, ``/proc``, signals, site-packages, the course's notebooks), look for the package's code by
introspection (``gc.get_objects()``, ``importlib``, ``getattr`` with a computed name), or answer with the package's
own function. Cells that are the course's own (the same source as in the course notebook) are not read.
"""

from __future__ import annotations

import ast

from mha.exercises import exercises_for

_MODULE_ROOTS = {"mha", "torch", "numpy", "np", "math", "sys", "os", "builtins", "F", "nn", "random", "json"}
_WATCHED = {
    "atexit": "registers code to run at exit (atexit)",
    "_exit": "ends the process (os._exit)",
    "settrace": "installs a tracer (sys.settrace)",
    "setprofile": "installs a profiler (sys.setprofile)",
    "setrlimit": "changes its resource limits",
    "prlimit": "changes resource limits",
    "MHA_EXERCISE_RESULTS": "touches the results file of the in-cell checks",
    "ctypes": "uses ctypes",
    "__builtins__": "changes the builtins",
    "grading": "touches mha.grading",
    "getsource": "reads source code (inspect.getsource)",
    "__file__": "looks for files of a module (__file__)",
    "site-packages": "reads the installed packages' files",
    "get_objects": "looks through every object of the interpreter (gc.get_objects)",
    "get_referrers": "looks through the interpreter's objects (gc.get_referrers)",
    "find_spec": "looks for a module's files (importlib find_spec)",
    "import_module": "imports a module by a computed name",
    "__import__": "imports a module by a computed name",
    "__globals__": "reads a function's globals",
    "__code__": "reads or replaces a function's code",
    "answer_requests": "touches the grader's kernel-side code",
    "kill": "sends signals to processes (os.kill)",
    "killpg": "sends signals to process groups (os.killpg)",
    "Popen": "starts processes (subprocess)",
    "system": "starts processes (os.system)",
    "fork": "forks processes (os.fork)",
    "setsid": "detaches a process (setsid)",
    "start_new_session": "detaches a process (start_new_session)",
    "socket": "opens sockets",
    "NOTEBOOKS": "reads the course's notebooks",
    "reference_solutions": "reads the course's solutions",
}
_WATCHED_TEXT = {  # parts of string constants
    "/proc": "reads /proc (other processes)",
    ".pth": "names a .pth file (code run by every Python start)",
    "site-packages": "reads the installed packages' files",
    ".ipynb": "names notebook files",
    "grades.": "names the grader's report files",
    "mha/": "names the package's files",
}


def _chain(node) -> list[str] | None:
    """The dotted name of an attribute chain, ["torch", "nn", "functional", "softmax"], or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def scan_cells(
    sources: list[tuple[int, str]], number: str | None, known: set[str] | frozenset = frozenset()
) -> list[str]:
    """Notes for the instructor about what the submitted cells do that the grader does not trust or cannot prevent.

    sources: (cell index, source) of the learner's code cells. Reports cells that change attributes of modules
    (``torch.softmax = ...``, ``setattr(mha, ...)``), reach for the grader (``atexit``, ``os._exit``, the results
    file, tracers), and exercise answers that are the package's own function (``split_heads = mha.split_heads``, or
    a ``def split_heads`` that calls ``mha.split_heads`` or ``F.layer_norm``). known: the sources of the course's own
    cells (not reported).
    """
    names = {ex.name for ex in exercises_for(number)} if number else set()
    notes: list[str] = []
    modules = set(_MODULE_ROOTS)
    from_package: dict[str, str] = {}  # local name -> "mha.attention.split_heads"
    for index, source in sources:
        if source.strip() in known:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local = alias.asname or alias.name
                    if node.module.startswith("mha.exercises") and not alias.name.startswith("check_"):
                        found.append(f"imports {alias.name} from {node.module} (the checks' own code)")
                    if node.module.split(".")[0] in ("mha", "torch"):
                        from_package[local] = f"{node.module}.{alias.name}"
                        if alias.name in names:
                            found.append(f"imports {alias.name} from {node.module} (the package's own answer)")
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            for target in targets:
                chain = _chain(target) if isinstance(target, ast.Attribute) else None
                if chain and chain[0] in modules:
                    found.append(f"changes {'.'.join(chain)} (ignored: the checks run outside the notebook)")
            if isinstance(node, ast.Attribute):
                chain = _chain(node)
                if chain and chain[:2] == ["mha", "exercises"] and len(chain) > 2 and not chain[2].startswith("check_"):
                    found.append(f"reads {'.'.join(chain)} (the checks' own code)")
            if isinstance(node, ast.Call):
                fn = _chain(node.func)
                if fn and fn[-1] == "getattr" and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                    found.append("reads attributes by computed names (getattr)")
                if fn and fn[-1] in ("setattr", "delattr") and node.args:
                    owner = _chain(node.args[0])
                    if owner and owner[0] in modules:
                        found.append(f"calls {fn[-1]} on {'.'.join(owner)}")
            if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)):
                word = (
                    node.id
                    if isinstance(node, ast.Name)
                    else node.attr
                    if isinstance(node, ast.Attribute)
                    else node.value
                    if isinstance(node.value, str)
                    else None
                )
                if word in _WATCHED:
                    found.append(_WATCHED[word])
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found += [why for text, why in _WATCHED_TEXT.items() if text in node.value]
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                value = _chain(node.value)
                if name in names and value and (value[0] in modules or value[0] in from_package):
                    found.append(f"sets {name} = {'.'.join(value)} (the package's own answer)")
            answer = None  # (the exercise's name, the code that defines it)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
                answer = (node.name, node)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in names:
                    answer = (target.id, node.value)
            if answer is not None:
                name, code = answer
                for inner in ast.walk(code):
                    chain = _chain(inner) if isinstance(inner, (ast.Attribute, ast.Name)) else None
                    if not chain:
                        continue
                    full = chain if chain[0] not in from_package else from_package[chain[0]].split(".") + chain[1:]
                    if len(full) > 1 and full[0] in modules | {"mha", "torch"} and full[-1] == name:
                        found.append(f"{name} calls {'.'.join(full)} (the package's own answer)")
        for text in dict.fromkeys(found):  # in order, once each
            notes.append(f"cell {index} {text}")
    return notes
