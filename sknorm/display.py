"""Pictures of embeddings before and after a fitted post-processing.

Display objects in scikit-learn's convention (as
:class:`sklearn.metrics.RocCurveDisplay`): a ``from_estimator`` constructor
takes a fitted estimator and embeddings and draws them before and after its
``transform``, side by side; ``from_embeddings`` draws one set; the
constructor stores computed values and :meth:`plot` draws them, storing the
matplotlib artists as attributes ending in ``_`` (``figure_``, ``axes_`` or
``ax_``, and the bars, lines or points) so that tests and users can read
them back.

* :class:`EmbeddingNormsDisplay`: histograms of the row L2 norms;
* :class:`CosineSimilarityDisplay`: distribution of pairwise cosine
  similarities, the mean (anisotropy) marked;
* :class:`SpectrumDisplay`: eigenvalue spectrum of the covariance, with the
  directions an :class:`~sknorm.EmbeddingNormalizer` removes, keeps, whitens
  or drops shaded;
* :class:`ProjectionDisplay`: a 2-D projection (PCA by default) coloured by a
  label.

The numbers behind them come from :mod:`sknorm.diagnostics`
(:func:`~sknorm.embedding_diagnostics` logs them). matplotlib is imported only
when a display is made (``pip install sknorm[plot]``); ``import sknorm`` does
not need it.
"""

import copy
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_consistent_length, check_random_state, column_or_1d
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted, check_scalar

from ._validation import is_sparse
from .diagnostics import (
    check_embeddings,
    covariance_spectrum,
    mean_pairwise_cosine,
    pair_cosines,
    sample_pairs,
    unit_rows,
)
from .rows import normalize, row_norms

__all__ = [
    "CosineSimilarityDisplay",
    "EmbeddingNormsDisplay",
    "ProjectionDisplay",
    "SpectrumDisplay",
]

#: Colours of the roles of principal directions in :class:`SpectrumDisplay`.
_ROLE_COLORS = {"removed": "tab:red", "kept": "tab:green", "dropped": "tab:gray"}


def _check_fitted_transformer(estimator, caller):
    if not hasattr(estimator, "transform"):
        raise TypeError(
            f"{caller} needs a fitted transformer, got {type(estimator).__name__} "
            "which has no transform method."
        )
    check_is_fitted(estimator)


def _transform(estimator, X):
    """``estimator.transform`` of a copy of ``X``: a transformer with
    ``copy=False`` would otherwise overwrite the caller's embeddings."""
    return estimator.transform(copy.copy(X))


def _before_after_names(estimator, names):
    if names is None:
        return ["X", f"{type(estimator).__name__}(X)"]
    names = list(names)
    if len(names) != 2:
        raise ValueError(
            f"names must hold two names (before, after the transform), got {names!r}."
        )
    return names


def _panel_axes(ax, n_panels, caller):
    """``(figure, axes)``: the given Axes (one per panel) or a new row of them."""
    check_matplotlib_support(caller)
    import matplotlib.pyplot as plt

    if ax is None:
        figure, axes = plt.subplots(
            1,
            n_panels,
            figsize=(4.8 * n_panels, 3.6),
            squeeze=False,
            layout="constrained",
        )
        return figure, axes.ravel()
    axes = np.empty(1, dtype=object)
    if hasattr(ax, "figure") and not isinstance(ax, (list, tuple, np.ndarray)):
        axes[0] = ax
    else:
        axes = np.asarray(ax, dtype=object).ravel()
    if len(axes) != n_panels:
        raise ValueError(
            f"ax must hold one Axes per panel ({n_panels}), got {len(axes)}."
        )
    return axes[0].figure, axes


def _hist_range(values, bins):
    """A ``range`` for :meth:`~matplotlib.axes.Axes.hist`, or None.

    None (the data's range) unless the values are equal to within rounding
    (a relative spread below 1e-6), as the norms of normalized float32 or
    float64 rows are: they are then centered in a range of a thousandth of
    their magnitude (one unit around zero), one spike rather than a histogram
    of rounding errors (which numpy could not even cut into ``bins`` bins in
    float64).
    """
    if not isinstance(bins, Integral) or len(values) == 0:
        return None
    low, high = float(np.min(values)), float(np.max(values))
    magnitude = max(abs(low), abs(high))
    # float32 rounding moves the norm of a unit row by at most 2**-24: a
    # relative spread below 1e-6 is rounding, not a distribution.
    if high - low > max(1e-6 * magnitude, 1024 * bins * np.spacing(magnitude)):
        return None
    center = (low + high) / 2
    half = 5e-4 * abs(center) if center else 0.5
    # The values in the middle of one bin, not on an edge (an even number of
    # bins has one at the center).
    shift = half / bins if bins % 2 == 0 else 0.0
    return (center - half + shift, center + half + shift)


class EmbeddingNormsDisplay:
    """Histograms of the row L2 norms of embeddings.

    Raw model outputs have norms that vary (with length or frequency of the
    text, for instance); after :class:`~sknorm.EmbeddingNormalizer` every row
    has norm 1. Create the display with :meth:`from_estimator` (before and
    after a fitted transformer, side by side) or :meth:`from_embeddings` (one
    set); the constructor only stores the norms.

    Parameters
    ----------
    norms : list of ndarray of shape (n_samples,)
        The norms of each panel.
    names : list of str, default=None
        The title of each panel; None leaves them untitled.

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        The histogram of each panel.
    bin_edges_ : list of ndarray
        The edges of the bins of each panel: ``bins`` bins over the range of
        the norms, or, when they are all equal to within rounding (a
        relative spread below 1e-6, as after a row normalization), around
        their value.
    axes_ : ndarray of matplotlib Axes
        One Axes per panel.
    figure_ : matplotlib Figure
        The figure holding them.

    See Also
    --------
    sknorm.embedding_diagnostics : The spread of the norms as numbers.
    CosineSimilarityDisplay : Distribution of pairwise cosine similarities.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer
    >>> from sknorm.display import EmbeddingNormsDisplay
    >>> X = np.random.default_rng(0).normal(size=(300, 8)) + 1.0
    >>> normalizer = EmbeddingNormalizer().fit(X)
    >>> display = EmbeddingNormsDisplay.from_estimator(normalizer, X)
    >>> [name for name in display.names]
    ['X', 'EmbeddingNormalizer(X)']
    >>> plt.close("all")
    """

    def __init__(self, norms, *, names=None):
        self.norms = norms
        self.names = names

    def plot(self, ax=None, *, bins=50, hist_kwargs=None):
        """Draw the histograms.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per panel; None creates a figure with a row of them.
        bins : int or sequence, default=50
            Passed to :meth:`matplotlib.axes.Axes.hist` (and so to
            :func:`numpy.histogram`).
        hist_kwargs : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

        Returns
        -------
        display : EmbeddingNormsDisplay
            The display, with its artists stored.
        """
        figure, axes = _panel_axes(ax, len(self.norms), "EmbeddingNormsDisplay.plot")
        kwargs = {"color": "tab:blue", **(hist_kwargs or {})}
        self.bars_, self.bin_edges_ = [], []
        for i, (axis, norms) in enumerate(zip(axes, self.norms, strict=True)):
            _, edges, bars = axis.hist(
                norms, bins=bins, range=_hist_range(norms, bins), **kwargs
            )
            self.bars_.append(bars)
            self.bin_edges_.append(edges)
            axis.set_xlabel("row L2 norm")
            axis.set_ylabel("rows")
            if self.names is not None:
                axis.set_title(self.names[i])
        self.axes_, self.figure_ = axes, figure
        return self

    @classmethod
    def from_embeddings(cls, X, *, name=None, ax=None, bins=50, hist_kwargs=None):
        """Histogram of the row norms of one set of embeddings.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Embeddings, without NaN.
        name : str, default=None
            Title of the panel.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        bins : int or sequence, default=50
            Bins of the histogram.
        hist_kwargs : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

        Returns
        -------
        display : EmbeddingNormsDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_embeddings")
        norms = row_norms(check_embeddings(X))
        names = None if name is None else [name]
        return cls([norms], names=names).plot(ax, bins=bins, hist_kwargs=hist_kwargs)

    @classmethod
    def from_estimator(
        cls, estimator, X, *, names=None, ax=None, bins=50, hist_kwargs=None
    ):
        """Histograms of the row norms of ``X`` and ``estimator.transform(X)``.

        Parameters
        ----------
        estimator : fitted transformer
            A fitted :class:`~sknorm.EmbeddingNormalizer`, or any transformer
            (a pipeline, a scaler).
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, \
n_features)
            Embeddings, without NaN.
        names : list of two str, default=None
            Titles of the panels; None means ``["X", "<EstimatorName>(X)"]``.
        ax : array-like of two matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        bins : int or sequence, default=50
            Bins of each histogram.
        hist_kwargs : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.hist`.

        Returns
        -------
        display : EmbeddingNormsDisplay
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        _check_fitted_transformer(estimator, caller)
        names = _before_after_names(estimator, names)
        before = row_norms(check_embeddings(X))
        after = row_norms(check_embeddings(_transform(estimator, X), "transform(X)"))
        return cls([before, after], names=names).plot(
            ax, bins=bins, hist_kwargs=hist_kwargs
        )


class CosineSimilarityDisplay:
    """Distribution of pairwise cosine similarities, the mean marked.

    The mean cosine similarity of random pairs measures *anisotropy*: near 1
    when every embedding shares a common component (raw outputs of most
    models), near 0 when directions spread over the sphere (after centering).
    The histogram is drawn from pairs of distinct rows (all of them, or
    ``max_pairs`` drawn at random); the vertical line is the exact mean over
    all pairs (:func:`~sknorm.embedding_diagnostics`). :meth:`from_estimator`
    uses the same pairs before and after the transform.

    Parameters
    ----------
    cosines : list of ndarray of shape (n_pairs,)
        Cosine similarities of the pairs, per panel.
    mean_cosines : list of float
        Mean cosine similarity over all pairs, per panel.
    names : list of str, default=None
        The title of each panel.

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        The histogram of each panel.
    bin_edges_ : list of ndarray
        The edges of the bins of each panel (see
        :class:`EmbeddingNormsDisplay`).
    mean_lines_ : list of matplotlib Line2D
        The vertical line at the mean of each panel.
    axes_ : ndarray of matplotlib Axes
        One Axes per panel.
    figure_ : matplotlib Figure
        The figure holding them.

    See Also
    --------
    sknorm.embedding_diagnostics : The mean cosine similarity as a number.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer
    >>> from sknorm.display import CosineSimilarityDisplay
    >>> X = np.random.default_rng(0).normal(size=(300, 8)) + 1.0
    >>> display = CosineSimilarityDisplay.from_estimator(
    ...     EmbeddingNormalizer(center=True).fit(X), X, random_state=0
    ... )
    >>> [round(mean, 2) for mean in display.mean_cosines]
    [0.5, -0.0]
    >>> plt.close("all")
    """

    def __init__(self, cosines, mean_cosines, *, names=None):
        self.cosines = cosines
        self.mean_cosines = mean_cosines
        self.names = names

    def plot(self, ax=None, *, bins=50, hist_kwargs=None, line_kwargs=None):
        """Draw the histograms and the means.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per panel; None creates a figure with a row of them.
        bins : int or sequence, default=50
            Passed to :meth:`matplotlib.axes.Axes.hist`.
        hist_kwargs : dict, default=None
            Further keyword arguments of :meth:`matplotlib.axes.Axes.hist`.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.axvline` for the
            mean.

        Returns
        -------
        display : CosineSimilarityDisplay
        """
        figure, axes = _panel_axes(
            ax, len(self.cosines), "CosineSimilarityDisplay.plot"
        )
        hist = {"color": "tab:blue", **(hist_kwargs or {})}
        line = {"color": "tab:red", "linestyle": "--", **(line_kwargs or {})}
        self.bars_, self.bin_edges_, self.mean_lines_ = [], [], []
        for i, axis in enumerate(axes):
            cosines = self.cosines[i]
            _, edges, bars = axis.hist(
                cosines, bins=bins, range=_hist_range(cosines, bins), **hist
            )
            mean = self.mean_cosines[i]
            self.bars_.append(bars)
            self.bin_edges_.append(edges)
            self.mean_lines_.append(
                axis.axvline(mean, label=f"mean cosine {mean:.3f}", **line)
            )
            axis.set_xlabel("cosine similarity")
            axis.set_ylabel("pairs")
            axis.legend(loc="upper left")
            if self.names is not None:
                axis.set_title(self.names[i])
        self.axes_, self.figure_ = axes, figure
        return self

    @staticmethod
    def _pairs(n_samples, max_pairs, random_state):
        check_scalar(max_pairs, "max_pairs", Integral, min_val=1)
        return sample_pairs(n_samples, max_pairs, random_state)

    @staticmethod
    def _values(X, pairs, name="X"):
        unit = unit_rows(check_embeddings(X, name))
        return pair_cosines(unit, pairs), mean_pairwise_cosine(unit)

    @classmethod
    def from_embeddings(
        cls,
        X,
        *,
        max_pairs=100_000,
        random_state=None,
        name=None,
        ax=None,
        bins=50,
        hist_kwargs=None,
        line_kwargs=None,
    ):
        """Cosine similarities of one set of embeddings.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Embeddings, at least two rows, without NaN.
        max_pairs : int, default=100_000
            Most pairs in the histogram: all pairs of distinct rows when there
            are at most this many, else this many drawn at random.
        random_state : int, RandomState instance or None, default=None
            Draws the pairs.
        name : str, default=None
            Title of the panel.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        bins : int or sequence, default=50
            Bins of the histogram.
        hist_kwargs, line_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : CosineSimilarityDisplay
            ``pairs`` holds the row indices ``(i, j)`` of the pairs drawn.
        """
        check_matplotlib_support(f"{cls.__name__}.from_embeddings")
        X = check_embeddings(X)
        pairs = cls._pairs(X.shape[0], max_pairs, random_state)
        cosines, mean = cls._values(X, pairs)
        names = None if name is None else [name]
        display = cls([cosines], [mean], names=names)
        display.pairs = pairs
        return display.plot(
            ax, bins=bins, hist_kwargs=hist_kwargs, line_kwargs=line_kwargs
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        max_pairs=100_000,
        random_state=None,
        names=None,
        ax=None,
        bins=50,
        hist_kwargs=None,
        line_kwargs=None,
    ):
        """Cosine similarities of ``X`` and ``estimator.transform(X)``.

        The same pairs of rows in both panels.

        Parameters
        ----------
        estimator : fitted transformer
            A fitted :class:`~sknorm.EmbeddingNormalizer`, or any transformer.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, \
n_features)
            Embeddings, at least two rows, without NaN.
        max_pairs : int, default=100_000
            Most pairs in each histogram.
        random_state : int, RandomState instance or None, default=None
            Draws the pairs.
        names : list of two str, default=None
            Titles of the panels; None means ``["X", "<EstimatorName>(X)"]``.
        ax : array-like of two matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        bins : int or sequence, default=50
            Bins of each histogram.
        hist_kwargs, line_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : CosineSimilarityDisplay
            ``pairs`` holds the row indices ``(i, j)`` of the pairs drawn.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        _check_fitted_transformer(estimator, caller)
        names = _before_after_names(estimator, names)
        before = check_embeddings(X)
        pairs = cls._pairs(before.shape[0], max_pairs, random_state)
        values = [
            cls._values(before, pairs),
            cls._values(_transform(estimator, X), pairs, "transform(X)"),
        ]
        display = cls(
            [cosines for cosines, _ in values],
            [mean for _, mean in values],
            names=names,
        )
        display.pairs = pairs
        return display.plot(
            ax, bins=bins, hist_kwargs=hist_kwargs, line_kwargs=line_kwargs
        )


def _ratio(variance):
    variance = np.asarray(variance, dtype=np.float64)
    total = variance.sum()
    with np.errstate(invalid="ignore"):  # NaN where the variance overflowed
        return variance / total if total > 0 else np.zeros_like(variance)


def _spectrum(X, center=True):
    """``(variance, ratio)`` of the principal directions of ``X``.

    The ratio comes from the eigenvalues in the data's units, so it is exact
    also where the variance itself overflows (data above about ``1e154``).
    """
    values, exponent = covariance_spectrum(X, center=center)
    with np.errstate(over="ignore"):
        return np.ldexp(values, 2 * exponent), _ratio(values)


class SpectrumDisplay:
    """Eigenvalue spectrum of the covariance of embeddings, on a log scale.

    The fraction of the total variance along each principal direction, by
    decreasing variance: a few dominant directions (anisotropy) show as a
    steep head. For a fitted :class:`~sknorm.EmbeddingNormalizer`,
    :meth:`from_estimator` shades the directions its map removes
    (``n_remove``), keeps (whitened or not) and drops (``n_components``, or
    ``truncate_dim`` in principal coordinates), and, given ``X``, draws the
    spectrum of ``transform(X)`` too.

    Parameters
    ----------
    explained_variance : ndarray of shape (n_directions,)
        Variance along each principal direction, decreasing (eigenvalues of
        the covariance; of the uncentered second moment for an estimator
        fitted with ``center=False``).
    explained_variance_ratio : ndarray of shape (n_directions,), default=None
        ``explained_variance`` divided by its sum (the y data of ``line_``);
        None computes it.
    explained_variance_ratio_transformed : ndarray of shape (n_out,), \
default=None
        The explained variance ratio of the transformed embeddings.
    roles : ndarray of str of shape (n_directions,), default=None
        ``"removed"``, ``"kept"`` or ``"dropped"`` for each direction.
    kept_label : str, default="kept"
        Legend label of the kept directions (says whether they are whitened).
    name : str, default=None
        Label of the spectrum line.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The spectrum.
    line_transformed_ : matplotlib Line2D or None
        The spectrum of the transformed embeddings.
    spans_ : dict of str to list of matplotlib Patch
        The shaded ranges of directions of each role.
    ax_ : matplotlib Axes
        The Axes.
    figure_ : matplotlib Figure
        The figure holding it.

    See Also
    --------
    sknorm.embedding_diagnostics : The effective rank of this spectrum.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer
    >>> from sknorm.display import SpectrumDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 8)) * np.arange(1, 9)
    >>> normalizer = EmbeddingNormalizer(n_remove=1, n_components=5).fit(X)
    >>> display = SpectrumDisplay.from_estimator(normalizer, X)
    >>> display.roles
    array(['removed', 'kept', 'kept', 'kept', 'kept', 'kept', 'dropped',
           'dropped'], dtype='<U7')
    >>> plt.close("all")
    """

    def __init__(
        self,
        explained_variance,
        *,
        explained_variance_ratio=None,
        explained_variance_ratio_transformed=None,
        roles=None,
        kept_label="kept",
        name=None,
    ):
        self.explained_variance = np.asarray(explained_variance, dtype=np.float64)
        if explained_variance_ratio is None:
            explained_variance_ratio = _ratio(self.explained_variance)
        self.explained_variance_ratio = explained_variance_ratio
        self.explained_variance_ratio_transformed = explained_variance_ratio_transformed
        self.roles = roles
        self.kept_label = kept_label
        self.name = name

    def plot(self, ax=None, *, xscale="log", line_kwargs=None):
        """Draw the spectrum (log scale) and shade the roles.

        The y axis starts at ``EIGENVALUE_FLOOR`` (1e-6) times the largest
        ratio when smaller ones (or zeros) exist: below it directions hold
        rounding noise, and :class:`~sknorm.EmbeddingNormalizer` floors them
        there before whitening.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        xscale : {"log", "linear"}, default="log"
            Scale of the direction axis; "log" shows the leading directions,
            where the variance concentrates.
        line_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.plot` for the
            spectrum.

        Returns
        -------
        display : SpectrumDisplay
        """
        check_matplotlib_support("SpectrumDisplay.plot")
        import matplotlib.pyplot as plt

        from .embedding import EIGENVALUE_FLOOR

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
        directions = np.arange(1, len(self.explained_variance_ratio) + 1)
        line = {
            "color": "tab:blue",
            "label": self.name or "fitting data",
            **(line_kwargs or {}),
        }
        (self.line_,) = ax.plot(directions, self.explained_variance_ratio, **line)
        self.line_transformed_ = None
        if self.explained_variance_ratio_transformed is not None:
            ratio = self.explained_variance_ratio_transformed
            (self.line_transformed_,) = ax.plot(
                np.arange(1, len(ratio) + 1),
                ratio,
                color="tab:orange",
                label="transformed",
            )
        self.spans_ = {}
        if self.roles is not None:
            roles = np.asarray(self.roles)
            for role, color in _ROLE_COLORS.items():
                spans = []
                for start, stop in _runs(roles == role):
                    label = (
                        None if spans else (self.kept_label if role == "kept" else role)
                    )
                    # Direction k (1-based) covers [k - 0.5, k + 0.5].
                    spans.append(
                        ax.axvspan(
                            start + 0.5,
                            stop + 0.5,
                            color=color,
                            alpha=0.15,
                            label=label,
                            linewidth=0,
                        )
                    )
                if spans:
                    self.spans_[role] = spans
        ax.set_yscale("log")
        ax.set_xscale(xscale)
        ratios = [self.explained_variance_ratio]
        if self.explained_variance_ratio_transformed is not None:
            ratios.append(self.explained_variance_ratio_transformed)
        largest = max(np.nanmax(r, initial=0.0) for r in ratios)
        smallest = min(np.nanmin(r, initial=np.inf) for r in ratios)
        if largest > 0 and smallest < EIGENVALUE_FLOOR * largest:
            ax.set_ylim(bottom=EIGENVALUE_FLOOR * largest)
        ax.set_xlabel("principal direction")
        ax.set_ylabel("explained variance ratio")
        ax.legend(loc="lower left", fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_embeddings(cls, X, *, name=None, ax=None, xscale="log", line_kwargs=None):
        """Spectrum of the centered covariance of one set of embeddings.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Embeddings, at least two rows, without NaN.
        name : str, default=None
            Label of the line.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        xscale : {"log", "linear"}, default="log"
            Scale of the direction axis.
        line_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : SpectrumDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_embeddings")
        variance, ratio = _spectrum(check_embeddings(X))
        return cls(variance, explained_variance_ratio=ratio, name=name).plot(
            ax, xscale=xscale, line_kwargs=line_kwargs
        )

    @classmethod
    def from_estimator(
        cls, estimator, X=None, *, name=None, ax=None, xscale="log", line_kwargs=None
    ):
        """Spectrum of a fitted :class:`~sknorm.EmbeddingNormalizer`, its map
        shaded.

        The spectrum is the estimator's ``explained_variance_`` (the fitting
        data's). An estimator whose map needs no eigendecomposition (centering
        alone: ``components_`` is None) keeps every direction; its spectrum is
        then computed from ``X`` (centered as the estimator centers), as it is
        where ``explained_variance_`` overflowed or underflowed (data above
        about ``1e154`` or below about ``1e-162``).

        Parameters
        ----------
        estimator : fitted EmbeddingNormalizer
            The map; its ``n_remove``, ``n_components``, ``whiten``,
            ``power``, ``shrinkage`` and ``truncate_dim`` decide the roles.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, \
n_features), default=None
            Embeddings: the spectrum of ``estimator.transform(X)`` is drawn
            too. Required when ``components_`` is None.
        name : str, default=None
            Label of the spectrum line.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        xscale : {"log", "linear"}, default="log"
            Scale of the direction axis.
        line_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : SpectrumDisplay
        """
        from .embedding import EmbeddingNormalizer

        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        if not isinstance(estimator, EmbeddingNormalizer):
            raise TypeError(
                f"{caller} shows the map of a fitted EmbeddingNormalizer, got "
                f"{type(estimator).__name__}; use from_embeddings for the "
                "spectrum of any embeddings."
            )
        check_is_fitted(estimator)
        variance = ratio = None
        if estimator.components_ is not None:
            variance = estimator.explained_variance_
            ratio = _ratio(variance)
        if variance is None or not 0 < variance.sum() < np.inf:
            # No eigendecomposition (the map only centers), or variances
            # beyond the float64 range (or none): the spectrum of X, in its
            # units.
            if X is None:
                raise ValueError(
                    f"The spectrum of {estimator!r} needs X: "
                    + (
                        "its map has no eigendecomposition (components_ is "
                        "None: it only centers and normalizes)."
                        if variance is None
                        else "its explained_variance_ sums to "
                        f"{variance.sum()!r}, outside the float64 range."
                    )
                )
            fitted_rows = check_embeddings(X)
            if getattr(estimator, "input_norm", None) == "l2":
                # The rows its statistics were fitted on.
                fitted_rows = normalize(fitted_rows, eps=estimator.eps)
            variance, ratio = _spectrum(fitted_rows, center=estimator._centers())
        transformed = None
        if X is not None:
            Z = check_embeddings(_transform(estimator, X), "transform(X)")
            transformed = _spectrum(Z)[1]
        roles, kept_label = _roles(estimator, len(variance))
        return cls(
            variance,
            explained_variance_ratio=ratio,
            explained_variance_ratio_transformed=transformed,
            roles=roles,
            kept_label=kept_label,
            name=name,
        ).plot(ax, xscale=xscale, line_kwargs=line_kwargs)


def _roles(estimator, n_directions):
    """What the map of an EmbeddingNormalizer does with each principal
    direction, and the legend label of the kept ones."""
    first = estimator.n_remove
    last = first + (estimator.n_components or n_directions - first)
    roles = np.full(n_directions, "dropped")
    roles[:first] = "removed"
    roles[first:last] = "kept"
    principal = estimator.whiten == "pca" or (
        estimator.whiten is None and estimator.n_components is not None
    )
    if estimator.truncate_dim is not None and principal:
        # Principal coordinates: truncation keeps the leading kept directions.
        roles[first + estimator.truncate_dim : last] = "dropped"
    label = "kept"
    if estimator.whiten is not None:
        power = -0.5 if estimator.power is None else estimator.power
        label = f"kept, whitened ({estimator.whiten}, λ^{power:g}"
        if estimator.shrinkage:
            label += f", shrinkage {estimator.shrinkage:g}"
        label += ")"
    return roles, label


def _runs(mask):
    """``(start, stop)`` of each run of True in a boolean vector."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    )


class ProjectionDisplay:
    """A 2-D projection of embeddings, coloured by a label.

    Whether similar items cluster: each embedding projected on two
    directions (the first two principal components by default, or any
    transformer with two output features, such as
    :class:`sklearn.manifold.TSNE`), one colour per class of ``y``.
    :meth:`from_estimator` projects ``X`` and ``estimator.transform(X)``
    separately, side by side.

    Parameters
    ----------
    embeddings_2d : list of ndarray of shape (n_samples, 2)
        The projected points of each panel.
    y : ndarray of shape (n_samples,), default=None
        The label of each point; None draws one colour.
    names : list of str, default=None
        The title of each panel.

    Attributes
    ----------
    classes_ : ndarray or None
        The distinct labels, in the order of the legend.
    scatters_ : list of matplotlib PathCollection
        The points of each panel (their offsets are ``embeddings_2d``).
    axes_ : ndarray of matplotlib Axes
        One Axes per panel.
    figure_ : matplotlib Figure
        The figure holding them.

    See Also
    --------
    sklearn.decomposition.PCA : The default projection.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer
    >>> from sknorm.display import ProjectionDisplay
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=200)
    >>> X = rng.normal(size=(200, 8)) + 3.0 * y[:, None]
    >>> display = ProjectionDisplay.from_estimator(EmbeddingNormalizer().fit(X), X, y)
    >>> display.classes_
    array([0, 1])
    >>> plt.close("all")
    """

    def __init__(self, embeddings_2d, *, y=None, names=None):
        self.embeddings_2d = embeddings_2d
        self.y = y
        self.names = names

    def plot(self, ax=None, *, scatter_kwargs=None):
        """Draw the points.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per panel; None creates a figure with a row of them.
        scatter_kwargs : dict, default=None
            Keyword arguments of :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : ProjectionDisplay
        """
        figure, axes = _panel_axes(
            ax, len(self.embeddings_2d), "ProjectionDisplay.plot"
        )
        import matplotlib
        from matplotlib.lines import Line2D

        kwargs = {"s": 4, "alpha": 0.6, "linewidths": 0, **(scatter_kwargs or {})}
        colormap = matplotlib.colormaps["tab10"]
        handles, colors, self.classes_ = None, "tab:blue", None
        if self.y is not None:
            self.classes_, codes = np.unique(self.y, return_inverse=True)
            colors = colormap(codes % colormap.N)
            handles = [
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    label=str(label),
                    color=colormap(k % colormap.N),
                )
                for k, label in enumerate(self.classes_)
            ]
        self.scatters_ = []
        for i, axis in enumerate(axes):
            points = self.embeddings_2d[i]
            self.scatters_.append(
                axis.scatter(points[:, 0], points[:, 1], c=colors, **kwargs)
            )
            axis.set_xlabel("component 1")
            axis.set_ylabel("component 2")
            if handles is not None:
                axis.legend(handles=handles, loc="best", fontsize="small")
            if self.names is not None:
                axis.set_title(self.names[i])
        self.axes_, self.figure_ = axes, figure
        return self

    @staticmethod
    def _sample(X, y, max_samples, random_state):
        """Rows kept: all, or ``max_samples`` drawn without replacement."""
        check_scalar(max_samples, "max_samples", Integral, min_val=2)
        n_samples = X.shape[0]
        if y is not None:
            y = column_or_1d(y, dtype=None)
            check_consistent_length(X, y)
        if n_samples <= max_samples:
            return np.arange(n_samples), y
        rng = check_random_state(random_state)
        rows = np.sort(rng.choice(n_samples, size=max_samples, replace=False))
        return rows, None if y is None else y[rows]

    @staticmethod
    def _project(X, projection, name="X"):
        from sklearn.decomposition import PCA

        X = check_embeddings(X, name)
        if is_sparse(X):
            X = X.toarray()  # at most max_samples rows
        projection = PCA(n_components=2) if projection is None else clone(projection)
        points = np.asarray(projection.fit_transform(X))
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"projection must map embeddings to 2 features, "
                f"{type(projection).__name__} gave shape {points.shape}."
            )
        return points

    @classmethod
    def from_embeddings(
        cls,
        X,
        y=None,
        *,
        projection=None,
        max_samples=5000,
        random_state=None,
        name=None,
        ax=None,
        scatter_kwargs=None,
    ):
        """Project one set of embeddings.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Embeddings, without NaN.
        y : array-like of shape (n_samples,), default=None
            Label of each row (classes, categories); None draws one colour.
        projection : transformer, default=None
            Unfitted transformer with two output features, cloned and fitted
            on the (sampled) rows; None means
            ``sklearn.decomposition.PCA(n_components=2)``.
        max_samples : int, default=5000
            Most rows drawn: a random subset of this size when X has more.
        random_state : int, RandomState instance or None, default=None
            Draws the subset.
        name : str, default=None
            Title of the panel.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        scatter_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : ProjectionDisplay
            ``sample_indices`` holds the rows drawn.
        """
        check_matplotlib_support(f"{cls.__name__}.from_embeddings")
        X = check_embeddings(X)
        rows, y = cls._sample(X, y, max_samples, random_state)
        display = cls(
            [cls._project(X[rows], projection)],
            y=y,
            names=None if name is None else [name],
        )
        display.sample_indices = rows
        return display.plot(ax, scatter_kwargs=scatter_kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        projection=None,
        max_samples=5000,
        random_state=None,
        names=None,
        ax=None,
        scatter_kwargs=None,
    ):
        """Project ``X`` and ``estimator.transform(X)``, side by side.

        Each panel has its own projection, fitted on its embeddings: the
        right one shows the geometry cosine similarity sees after the map.

        Parameters
        ----------
        estimator : fitted transformer
            A fitted :class:`~sknorm.EmbeddingNormalizer`, or any transformer.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, \
n_features)
            Embeddings, without NaN.
        y : array-like of shape (n_samples,), default=None
            Label of each row; None draws one colour.
        projection : transformer, default=None
            Unfitted transformer with two output features; None means
            ``sklearn.decomposition.PCA(n_components=2)``.
        max_samples : int, default=5000
            Most rows drawn (the same rows in both panels).
        random_state : int, RandomState instance or None, default=None
            Draws the subset.
        names : list of two str, default=None
            Titles of the panels; None means ``["X", "<EstimatorName>(X)"]``.
        ax : array-like of two matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        scatter_kwargs : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : ProjectionDisplay
            ``sample_indices`` holds the rows drawn.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib_support(caller)
        _check_fitted_transformer(estimator, caller)
        names = _before_after_names(estimator, names)
        checked = check_embeddings(X)
        rows, y = cls._sample(checked, y, max_samples, random_state)
        transformed = _transform(estimator, X)
        points = [
            cls._project(checked[rows], projection),
            cls._project(
                check_embeddings(transformed, "transform(X)")[rows],
                projection,
                "transform(X)",
            ),
        ]
        display = cls(points, y=y, names=names)
        display.sample_indices = rows
        return display.plot(ax, scatter_kwargs=scatter_kwargs)
