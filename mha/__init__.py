"""mha: the package behind the course "Multi-Head Attention, from one head to h heads".

The math lives in ``mha.attention`` (one head in NumPy: ``mha.numpy_attention``) and is re-exported here;
figures live in ``mha.viz``.
"""

from mha.attention import (
    HeadPanel,
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    count_parameters,
    get_device,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)
from mha.numpy_attention import self_attention_np, softmax_np
from mha.validate import valid_head_counts

__version__ = "0.1.0"

__all__ = [
    "HeadPanel",
    "MultiHeadAttention",
    "SelfAttention",
    "causal_mask",
    "count_parameters",
    "get_device",
    "merge_heads",
    "padding_mask",
    "scaled_dot_product_attention",
    "self_attention_np",
    "setup_notebook",
    "softmax_np",
    "split_heads",
    "valid_head_counts",
    "widget_stack_problem",
]


def setup_notebook() -> None:
    """Prepare a notebook kernel: choose the plotly renderer (Colab's or the course's), print options, and full
    float32 precision on GPUs (TF32 off).

    Every notebook's setup cell calls this; it prints nothing, except one line where the explorers could not show
    (``widget_stack_problem``).
    """
    import numpy as np
    import torch

    from mha.viz import setup_notebook as _setup_plotly

    np.set_printoptions(precision=4, suppress=True)
    torch.set_printoptions(precision=4, sci_mode=False)
    # Full float32 precision on a GPU too (no TF32 matmuls), so printed values match the CPU's to their last digit.
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    _setup_plotly()
    problem = widget_stack_problem()
    if problem:
        print(problem)


def widget_stack_problem(versions: dict | None = None) -> str:
    """A one-line fix where this environment's widget packages cannot show the explorers, else "".

    ipywidgets 7 with ipykernel 6.18 or later sends every widget with an empty model id (ipython/ipykernel#1050):
    classic Notebook then shows no widget at all, silently. Colab has its own widget front end and is left out.
    versions: {package: version} (default: the installed ones).
    """
    import sys
    from importlib.metadata import PackageNotFoundError, version

    if versions is None and "google.colab" in sys.modules:
        return ""

    def installed(name):
        if versions is not None:
            return versions.get(name)
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    def release(text):
        return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())

    widgets, kernel = installed("ipywidgets"), installed("ipykernel")
    if widgets and kernel and release(widgets)[:1] == (7,) and release(kernel) >= (6, 18):
        return (
            f"Note: ipywidgets {widgets} cannot show widgets with ipykernel {kernel}, so the explorers would stay "
            f'blank. Fix: %pip install "ipywidgets>=8" (or "ipykernel<6.18"), then restart the kernel.'
        )
    return ""
