"""A short tour of sknorm: ``python -m sknorm.demo``.

Each scaler runs inside a scikit-learn ``Pipeline`` under ``cross_val_score`` on
a dataset bundled with scikit-learn, next to its scikit-learn namesake. Then
the common mistake of scaling all the data before cross-validating (the test
folds leak into the statistics) is measured where it misleads most among the
cases of the docs' leakage study (examples/plot_leakage_study.py): data whose
noise grows with time, cross-validated with ``TimeSeriesSplit``; the honest
pipeline's own optimism there is the drift, not a leak.
"""

import textwrap

import numpy as np

#: Rows of the fresh data that measure a model's true score.
TRUE_ROWS = 4_000


def drifting_data(rng, n=300, noise_growth=4.0):
    """Two informative features and three noise features whose spread grows
    with time (a sensor degrading, a market getting volatile).

    Returns ``(X, y, groups, (X_true, y_true))``: ``n`` rows over the time
    span [0, 1), no groups, and ``TRUE_ROWS`` rows of the period [1, 1.2)
    that follows, as long as one of five ``TimeSeriesSplit`` test folds,
    on which the deployed model's true score is measured. The noise's
    standard deviation at time ``t`` is ``exp(noise_growth * t)``
    (``noise_growth=0``: data that do not change with time).
    """

    def draw(m, start, stop):
        time = np.linspace(start, stop, m, endpoint=False)
        signal = rng.normal(size=(m, 2))
        noise = rng.normal(size=(m, 3)) * np.exp(noise_growth * time)[:, None]
        label = signal[:, 0] + 0.5 * signal[:, 1] + 0.5 * rng.normal(size=m) > 0
        return np.hstack([signal, noise]), label.astype(int)

    X, y = draw(n, 0.0, 1.0)
    return X, y, None, draw(TRUE_ROWS, 1.0, 1.2)


def estimation_bias(make_data, scaler, model, cv, n_repeats, return_folds=False):
    """Per simulated data set: ``(honest estimate, leaky estimate, true score)``.

    The honest estimate cross-validates ``Pipeline([scaler, model])``; the
    leaky one cross-validates ``model`` on ``scaler.fit_transform(X)``; the
    true score is the pipeline fitted on all of X, scored on fresh data.

    With ``return_folds=True``, also returns the honest pipeline's score on
    each test fold, an array of shape ``(n_repeats, n_splits)`` (the estimate
    is its row mean).
    """
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    results, folds = [], []
    for seed in range(n_repeats):
        X, y, groups, (X_true, y_true) = make_data(np.random.default_rng(seed))
        honest = make_pipeline(clone(scaler), clone(model))
        fold_scores = cross_val_score(honest, X, y, groups=groups, cv=cv)
        scaled = clone(scaler).fit_transform(X)
        leaky = cross_val_score(clone(model), scaled, y, groups=groups, cv=cv)
        true = honest.fit(X, y).score(X_true, y_true)
        results.append((fold_scores.mean(), leaky.mean(), true))
        folds.append(fold_scores)
    if return_folds:
        return np.array(results), np.array(folds)
    return np.array(results)


def mean_interval(values):
    """Mean and 95% confidence interval (normal approximation) of the mean."""
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean(), values.mean() - half, values.mean() + half


def _cross_validation_table():
    from sklearn import preprocessing as sklearn_preprocessing
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    import sknorm

    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(n_splits=10, shuffle=True, random_state=0)
    model = KNeighborsClassifier(n_neighbors=15)

    print("Breast cancer data (569 x 30), k-NN (k=15), 10-fold CV accuracy\n")
    header = f"{'scaler':<16}{'sknorm Pipeline':>17}{'scikit-learn':>14}"
    print(header)
    print("-" * len(header))
    identical = True
    for name in ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"):
        ours = getattr(sknorm, name)()
        theirs = getattr(sklearn_preprocessing, name)()
        our_scores = cross_val_score(make_pipeline(ours, model), X, y, cv=cv)
        sklearn_scores = cross_val_score(make_pipeline(theirs, model), X, y, cv=cv)
        identical &= np.array_equal(our_scores, sklearn_scores)
        print(f"{name:<16}{our_scores.mean():>17.4f}{sklearn_scores.mean():>14.4f}")
    if identical:
        print(
            "\nThe scores are identical on every fold, and that is the point: a "
            "drop-in\nreplacement gives the same model. Swap the import, keep "
            "the results\n(docs/differences.rst lists where sknorm's differ, "
            "and why)."
        )
    else:
        print(
            "\nThe scores differ on some fold: on this well-conditioned data "
            "sknorm\nshould give scikit-learn's model (docs/differences.rst)."
        )


def _leakage_table(n_repeats=30):
    from sklearn.model_selection import TimeSeriesSplit
    from sklearn.neighbors import KNeighborsClassifier

    from sknorm import StandardScaler

    results, folds = estimation_bias(
        drifting_data,
        StandardScaler(),
        KNeighborsClassifier(5),
        TimeSeriesSplit(5),
        n_repeats,
        return_folds=True,
    )
    estimated, leaky, true = results.T
    print(
        f"\nScaling before cross-validation: {n_repeats} simulated series of 300 "
        "rows whose\nnoise grows with time, k-NN (k=5), TimeSeriesSplit(5). "
        "Bias of the estimated\naccuracy against the true accuracy on the "
        "next period (mean, 95% CI):\n"
    )
    for name, estimate in (
        ("Pipeline(StandardScaler, k-NN)", estimated),
        ("StandardScaler fitted on all rows", leaky),
    ):
        mean, low, high = mean_interval(estimate - true)
        print(f"  {name:<34}{mean:+.3f}  [{low:+.3f}, {high:+.3f}]")
    mean, low, high = mean_interval(leaky - estimated)
    print(
        f"\nThe leak adds {mean:+.3f} [{low:+.3f}, {high:+.3f}] of optimism: "
        "the statistics\nfitted on all rows have seen the future's noise "
        "level, which the\ndeployed model, trained on the past, has not. On "
        "most data the leak\nof a scaler is small (the docs' leakage study); "
        "a Pipeline removes it."
    )
    honest_bias = mean_interval(estimated - true)[0]
    fold_means = ", ".join(f"{score:.3f}" for score in folds.mean(axis=0))
    explanation = (
        f"The Pipeline's own {honest_bias:+.3f} is not leakage: no fold's scaler "
        "sees its test rows. It is the drift. Cross-validation scores the past, "
        "and here each period is noisier than the one before: the mean accuracy "
        f"on the test folds, in time order, is {fold_means}, and the estimate is "
        f"their mean, {estimated.mean():.3f}. The deployed model faces the next "
        f"period, noisier than any fold, and scores {true.mean():.3f}. On the "
        "cases of the leakage study whose data do not change with time, the "
        "Pipeline's bias is within its 95% CI of zero "
        "(examples/plot_leakage_study.py)."
    )
    print("\n" + textwrap.fill(explanation, width=72))


def _float32_example():
    from sklearn.preprocessing import StandardScaler as SklearnStandardScaler

    from sknorm import StandardScaler

    X = np.array([[1e7], [1e7 + 1]] * 4, dtype=np.float32)
    print("\nfloat32 data [1e7, 1e7 + 1] * 4, standardized:")
    print("  sknorm       ", StandardScaler().fit_transform(X).ravel()[:2])
    print("  scikit-learn ", SklearnStandardScaler().fit_transform(X).ravel()[:2])
    print("  exact         [-1.  1.]")


def _streaming_example():
    from sknorm import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(loc=5.0, scale=2.0, size=(100_000, 3))
    streamed = StandardScaler()
    for chunk in np.array_split(X, 10):
        streamed.partial_fit(chunk)
    full = StandardScaler().fit(X)
    difference = np.abs(streamed.scale_ - full.scale_).max()
    print(
        "\npartial_fit over 10 chunks vs fit: largest scale_ difference "
        f"{difference:.1e}"
    )


def main():
    """Print the demo tables."""
    _cross_validation_table()
    _leakage_table()
    _float32_example()
    _streaming_example()


if __name__ == "__main__":
    main()
