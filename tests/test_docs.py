"""The examples of the docs' pages run and print what the pages show.

Every ``>>>`` example of ``docs/*.rst`` (the getting-started page, the user
guide) is run as a doctest, a page's examples in order in one namespace, with
the option flags of the package's own doctests (``pyproject.toml``).
"""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(page.name for page in DOCS.glob("*.rst") if ">>>" in page.read_text())


def test_the_getting_started_page_has_examples():
    assert "getting_started.rst" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_examples_run(page):
    results = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} example(s) of docs/{page} failed"
