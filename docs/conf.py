"""Sphinx configuration for the sknorm documentation."""

import importlib.util
import os
import sys

# The package is normally installed in editable mode; fall back to the source
# tree so the docs also build from a plain checkout.
sys.path.insert(0, os.path.abspath(".."))

project = "sknorm"
author = "the sknorm developers"
copyright = "2026, the sknorm developers"

try:
    from importlib.metadata import version as _version

    release = _version("sknorm")
except Exception:  # pragma: no cover - package not installed
    release = "0.1.0"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]

# The example gallery: every ``examples/plot_*.py`` is executed on each docs
# build (CI included), its figures and printed output placed in its page; an
# example that raises fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# No intersphinx: the docs must build without network access.

# The plot directive runs the figures' code (docs/embeddings.rst, "Looking at
# embeddings") from this directory.
plot_working_directory = os.path.dirname(os.path.abspath(__file__))
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.dpi": 100}

templates_path = []
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

if importlib.util.find_spec("pydata_sphinx_theme") is not None:
    html_theme = "pydata_sphinx_theme"
else:
    html_theme = "alabaster"
html_static_path = []
html_title = f"sknorm {release}"
