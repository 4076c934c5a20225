"""``python -m sknorm.demo`` and the leakage study it shares with the docs'
gallery (examples/plot_leakage_study.py)."""

import numpy as np
from sklearn.model_selection import KFold, TimeSeriesSplit
from sklearn.neighbors import KNeighborsClassifier

from sknorm import StandardScaler
from sknorm.demo import TRUE_ROWS, drifting_data, estimation_bias, mean_interval


def test_drifting_data_noise_grows_with_time_and_true_rows_follow():
    X, y, groups, (X_true, y_true) = drifting_data(np.random.default_rng(0))
    assert len(y_true) == TRUE_ROWS
    assert X.shape == (300, 5) and groups is None
    assert X_true.shape == (TRUE_ROWS, 5) and set(np.unique(y)) == {0, 1}
    early, late = X[:100, 2:].std(), X[200:, 2:].std()
    assert late > 5 * early  # noise spread exp(4 t)
    assert X_true[:, 2:].std() > late
    # The informative features do not drift.
    assert abs(X[:100, :2].mean() - X[200:, :2].mean()) < 0.3


def test_estimation_bias_against_a_hand_written_loop():
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    model, cv = KNeighborsClassifier(3), KFold(3)
    results = estimation_bias(drifting_data, StandardScaler(), model, cv, 2)
    for seed, (estimated, leaky, true) in enumerate(results):
        X, y, _, (X_true, y_true) = drifting_data(np.random.default_rng(seed))
        pipeline = make_pipeline(StandardScaler(), KNeighborsClassifier(3))
        assert estimated == cross_val_score(pipeline, X, y, cv=cv).mean()
        scaled = StandardScaler().fit_transform(X)
        assert (
            leaky == cross_val_score(KNeighborsClassifier(3), scaled, y, cv=cv).mean()
        )
        assert true == pipeline.fit(X, y).score(X_true, y_true)


def test_mean_interval_is_the_normal_interval_of_the_mean():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = mean_interval(values)
    half = 1.96 * np.std(values, ddof=1) / 2
    assert (mean, low, high) == (2.5, 2.5 - half, 2.5 + half)


def test_the_leak_under_growing_noise_is_optimistic():
    """The demo's claim, on fewer series than it prints."""
    results = estimation_bias(
        drifting_data, StandardScaler(), KNeighborsClassifier(5), TimeSeriesSplit(5), 8
    )
    estimated, leaky, _ = results.T
    mean, low, _ = mean_interval(leaky - estimated)
    assert low > 0.02 and mean > 0.05


def test_demo_runs(capsys):
    from sknorm import demo

    demo._leakage_table(n_repeats=3)
    out = capsys.readouterr().out
    assert "StandardScaler fitted on all rows" in out and "95% CI" in out
