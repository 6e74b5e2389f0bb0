"""A learner's code run with a time limit, written once for the checks and for the grader's code in the kernel.

The exercises' checks (``mha.exercises.engine``) stop the learner's code after ``TIME_LIMIT`` seconds with
``run_limited``; so does the code the grader sends into the learner's kernel (``mha.grading.answers``), which
carries this file's text in its own source (``answers.SOURCE``): nothing of the kernel's ``mha`` is used there.
So this module imports only the standard library, and nothing that needs ``from __future__``.
"""

import signal
import threading

TIME_LIMIT = 10.0  # seconds one check, or one call of the learner's function, may spend in the learner's code


class CheckTimeout(BaseException):
    """Raised inside the learner's code when it runs out of time (a BaseException: `except Exception` in the
    learner's code does not swallow it)."""


def run_limited(func, seconds: float):
    """func() with a time limit: a SIGALRM timer in the main thread, else a watcher thread."""
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        active = [True]

        def on_alarm(signum, frame):
            if active[0]:
                raise CheckTimeout()

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        # repeat every 0.25 s, so a learner's bare `except:` inside a loop cannot swallow it for ever
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
        try:
            return func()
        finally:
            active[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
    box: dict = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as e:  # handed over to the caller below
            box["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CheckTimeout()
    if "error" in box:
        raise box["error"]
    return box.get("value")
