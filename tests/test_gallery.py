"""The example gallery (``examples/``, executed by sphinx-gallery on every docs
build) and the notebooks made from it.

``SKNORM_DOCS_BUILT=<html dir>`` (set by ``.ci/run`` after ``sphinx -W``)
turns the checks of the built pages on: each example's page exists and shows
the figures its run drew. Without it those checks skip, with the reason.
"""

import ast
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
#: Notebooks made from an example (sphinx-gallery's notebook of it).
NOTEBOOKS = {"leakage_study.ipynb": "plot_leakage_study.py"}


def _code_cells(example):
    """The code of each ``# %%`` cell of an example, comment lines dropped."""
    source = example.read_text()
    body = source.split('"""', 2)[2]  # after the module docstring
    cells = []
    for cell in re.split(r"^# %%.*$", body, flags=re.M):
        lines = [line for line in cell.splitlines() if not line.startswith("#")]
        code = "\n".join(lines).strip()
        if code:
            cells.append(code)
    return cells


def test_every_example_has_a_title_and_cells():
    assert len(EXAMPLES) >= 8
    for example in EXAMPLES:
        tree = ast.parse(example.read_text())
        doc = ast.get_docstring(tree)
        assert doc and doc.splitlines()[1].startswith("="), example.name
        assert "# %%" in example.read_text(), example.name


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_notebook_has_the_code_of_its_example(notebook):
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    code = ["".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"]
    code = [c for c in code if not c.startswith("%")]
    assert code == _code_cells(ROOT / "examples" / NOTEBOOKS[notebook]), (
        f"notebooks/{notebook} differs from examples/{NOTEBOOKS[notebook]}: copy "
        f"docs/auto_examples/{NOTEBOOKS[notebook][:-3]}.ipynb after a docs build"
    )


def _built_html():
    built = os.environ.get("SKNORM_DOCS_BUILT")
    if not built:
        pytest.skip("docs not built here: .ci/run runs this after sphinx -W")
    return Path(built)


def _draws_figures(example):
    return "plt.subplots" in example.read_text() or ".plot(" in example.read_text()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_built_page_shows_the_example_and_its_figures(example):
    html = _built_html()
    page = html / "auto_examples" / f"{example.stem}.html"
    assert page.is_file(), f"{page} was not built"
    text = page.read_text()
    images = re.findall(rf"_images/(sphx_glr_{example.stem}_\d+\.png)", text)
    if _draws_figures(example):
        assert images, f"{page.name} shows no figure"
    for image in images:
        assert (html / "_images" / image).stat().st_size > 1000, image


def test_built_embeddings_page_shows_its_figures():
    html = _built_html()
    text = (html / "embeddings.html").read_text()
    images = set(re.findall(r"_images/(embeddings-\d+\.png)", text))
    assert len(images) >= 4
    for image in images:
        assert (html / "_images" / image).stat().st_size > 1000, image
