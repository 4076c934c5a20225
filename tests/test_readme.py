"""Every path of the repository that the README and the docs' pages name
exists: a file moved or renamed (``sknorm/rows.py`` became the package
``sknorm/rows/``) fails here, listing what the text still names."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A path in the repository: one of its top-level folders, a slash, then path
#: characters; not the tail of a longer path (``../shared/data``) or a URL.
_PATH = re.compile(
    r"(?<![\w./:-])((?:sknorm|docs|examples|benchmarks|notebooks|tests|\.ci)"
    r"/[\w./-]*)"
)
#: The target of a Markdown link, ``[text](target)``.
_LINK = re.compile(r"\]\(([^)\s]+)\)")
#: What a build writes (named as a command's output), not files of the
#: repository.
BUILD_OUTPUTS = ("docs/_build", "docs/generated", "docs/auto_examples")

#: The texts checked, relative to the repository root.
_DOCS_PAGES = sorted((ROOT / "docs").glob("*.rst"))
TEXTS = ["README.md", "benchmarks/README.md", *(f"docs/{p.name}" for p in _DOCS_PAGES)]


def _is_a_path(name):
    """A name with a file extension or a trailing slash, or a script of
    ``.ci/``: extensionless names elsewhere are ratios in prose and in the
    benchmark tables (``sknorm/sklearn``), not paths."""
    return name.endswith("/") or "." in name.rsplit("/", 1)[-1] or name[:4] == ".ci/"


def named_paths(text):
    """The repository paths ``text`` names, in code, links or prose."""
    paths = {match.rstrip(".") for match in _PATH.findall(text)}
    paths = {path for path in paths if _is_a_path(path)}
    for target in _LINK.findall(text):
        if "://" not in target and not target.startswith(("#", "mailto:")):
            paths.add(target.split("#")[0])
    return {path for path in paths if path and not path.startswith(BUILD_OUTPUTS)}


def test_named_paths_finds_code_links_and_prose_but_not_urls():
    text = (
        "Layout: `sknorm/rows.py` (row normalizers), the [guide](docs/a.rst#x),\n"
        "```bash\npython benchmarks/run.py --size large\nbash .ci/run\n```\n"
        "see examples/plot_x.py. Data in ../shared/data/x.npz, "
        "https://example.org/docs/x.html, [web](https://example.org/y), "
        "build into docs/_build/html; `sknorm.demo` is a module; "
        "sknorm/sklearn is a ratio; see `sknorm/rows/`."
    )
    assert named_paths(text) == {
        "sknorm/rows.py",
        "sknorm/rows/",
        "docs/a.rst",
        "benchmarks/run.py",
        ".ci/run",
        "examples/plot_x.py",
    }


@pytest.mark.parametrize("name", TEXTS)
def test_every_path_named_exists(name):
    paths = named_paths((ROOT / name).read_text())
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"{name} names paths that do not exist: {missing}"


def test_the_readme_names_the_layout():
    """The check above sees the README's layout (a parser that found nothing
    would pass it), and the layout names every module and subpackage."""
    paths = named_paths((ROOT / "README.md").read_text())
    package = ROOT / "sknorm"
    modules = {
        f"sknorm/{entry.name}/" if entry.is_dir() else f"sknorm/{entry.name}"
        for entry in package.iterdir()
        if (entry.suffix == ".py" and entry.name != "__init__.py")
        or (entry.is_dir() and (entry / "__init__.py").exists())
    }
    unnamed = sorted(modules - paths)
    assert not unnamed, f"README.md's layout leaves out {unnamed}"
