"""Doctest collection: modules whose examples need optional dependencies are
left out when those are not installed."""

import importlib.util

collect_ignore = []
if not all(importlib.util.find_spec(name) for name in ("skl2onnx", "onnxruntime")):
    collect_ignore.append("onnx.py")
