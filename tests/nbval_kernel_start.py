"""A pytest plugin for the nbval runs (``-p tests.nbval_kernel_start``): a notebook's kernel that dies while it
starts, before it has run a single cell, is started again (at most three starts).

``make test`` once saw a kernel die before it replied to ``kernel_info`` while the other nbval worker started its
own kernel at the same moment. nbval sends a kernel's stderr to /dev/null, so the cause was not seen; the likeliest
is two kernels given the same free TCP port (jupyter_client picks ports that were free when it looked). Such a
kernel has run no cell, so starting it again changes no output that nbval compares; a kernel that dies three times
in a row still fails its notebook, and any error after the start is untouched.
"""

from __future__ import annotations

import nbval.kernel

_start_kernel = nbval.kernel.start_new_kernel
STARTS = 3


def start_new_kernel(*args, **kwargs):
    for start in range(1, STARTS + 1):
        try:
            return _start_kernel(*args, **kwargs)
        except RuntimeError as e:
            if "died before replying" not in str(e) or start == STARTS:
                raise


nbval.kernel.start_new_kernel = start_new_kernel  # RunningKernel looks the name up in nbval.kernel
