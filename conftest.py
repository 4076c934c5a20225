"""Doctest collection: modules whose examples need an optional dependency are
collected only where it is installed (their tests skip the same way)."""

import importlib.util

_NEEDS = {
    "sknorm/io.py": ("skops",),
    "sknorm/onnx.py": ("skl2onnx", "onnxruntime"),
}

collect_ignore = [
    path
    for path, modules in _NEEDS.items()
    if not all(importlib.util.find_spec(module) for module in modules)
]
