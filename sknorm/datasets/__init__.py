"""Data sets for trying sknorm on real data.

They ship with sknorm (no download): :func:`load_movie_embeddings` gives
sentence embeddings of movie reviews and plot synopses, for the embedding
post-processing and quantization of :mod:`sknorm.embedding`.
"""

from ._base import load_movie_embeddings

__all__ = ["load_movie_embeddings"]
