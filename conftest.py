"""Doctest collection: modules whose examples need an optional dependency are
collected only where it is installed (their tests skip the same way)."""

import importlib.util
import os
from pathlib import Path

# Figures are drawn off-screen (doctests of sknorm.display, tests/test_display.py).
os.environ.setdefault("MPLBACKEND", "Agg")

_NEEDS = {
    "sknorm/display.py": ("matplotlib",),
    "sknorm/io.py": ("skops",),
    "sknorm/onnx.py": ("skl2onnx", "onnxruntime"),
}
# The compiled kernels import numba at their top (the fast extra).
_NEEDS.update(
    {
        path.relative_to(Path(__file__).parent).as_posix(): ("numba",)
        for path in (Path(__file__).parent / "sknorm" / "_kernels").glob("*.py")
        if path.name != "__init__.py"
    }
)

collect_ignore = [
    path
    for path, modules in _NEEDS.items()
    if not all(importlib.util.find_spec(module) for module in modules)
]
