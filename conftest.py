"""Doctest collection: modules that need an optional dependency are collected
only where it is installed (their tests skip the same way)."""

import importlib.util

_NEEDS = {"sknorm/io.py": "skops"}

collect_ignore = [
    path for path, module in _NEEDS.items() if importlib.util.find_spec(module) is None
]
