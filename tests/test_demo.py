"""``python -m sknorm.demo`` and the leakage study it shares with the docs'
gallery (examples/plot_leakage_study.py)."""

import functools

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
    same, folds = estimation_bias(
        drifting_data, StandardScaler(), model, cv, 2, return_folds=True
    )
    np.testing.assert_array_equal(same, results)
    assert folds.shape == (2, 3)
    for seed, (estimated, leaky, true) in enumerate(results):
        X, y, _, (X_true, y_true) = drifting_data(np.random.default_rng(seed))
        pipeline = make_pipeline(StandardScaler(), KNeighborsClassifier(3))
        fold_scores = cross_val_score(pipeline, X, y, cv=cv)
        np.testing.assert_array_equal(folds[seed], fold_scores)
        assert estimated == fold_scores.mean()
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


def test_the_honest_bias_under_growing_noise_is_the_drift_not_a_leak():
    """The demo's explanation of the Pipeline's own bias: its fold scores fall
    as the noise grows, the next period scores lower still, and the same
    pipeline on data whose noise does not grow is not optimistic (its folds
    train on fewer rows than the deployed model, if anything pessimistic)."""

    def honest(noise_growth):
        data = functools.partial(drifting_data, noise_growth=noise_growth)
        cv, model = TimeSeriesSplit(5), KNeighborsClassifier(5)
        return estimation_bias(data, StandardScaler(), model, cv, 8, True)

    results, folds = honest(4.0)
    estimated, _, true = results.T
    fold_means = folds.mean(axis=0)
    assert fold_means[0] > fold_means[-1] + 0.05
    assert true.mean() < fold_means[-1] < estimated.mean()
    assert mean_interval(estimated - true)[1] > 0.02

    results, _ = honest(0.0)
    estimated, _, true = results.T
    assert mean_interval(estimated - true)[2] < 0.01


def test_demo_says_the_drop_in_scores_are_identical(capsys):
    from sknorm import demo

    demo._cross_validation_table()
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    rows = [row for row in rows if len(row) == 3 and row[0].endswith("Scaler")]
    assert len(rows) == 4
    assert all(ours == theirs for _, ours, theirs in rows)
    assert "identical on every fold, and that is the point" in out
    assert "drop-in\nreplacement gives the same model" in out


def test_demo_explains_the_pipelines_own_bias(capsys):
    from sknorm import demo

    demo._leakage_table(n_repeats=3)
    out = capsys.readouterr().out
    assert "StandardScaler fitted on all rows" in out and "95% CI" in out
    explanation = " ".join(out.split("The Pipeline's own", 1)[1].split())
    # The printed bias is the table's, and the fold scores and the true
    # score it quotes average to the numbers it names.
    table_bias = out.split("Pipeline(StandardScaler, k-NN)", 1)[1].split()[0]
    assert explanation.startswith(table_bias + " is not leakage")
    assert "It is the drift." in explanation
    scores = explanation.split("in time order, is ", 1)[1].split(", and")[0]
    fold_means = [float(score) for score in scores.split(", ")]
    assert len(fold_means) == 5
    estimate = float(explanation.split("their mean, ", 1)[1].split(". ")[0])
    assert abs(estimate - np.mean(fold_means)) <= 0.0025  # 3-decimal rounding
    assert "examples/plot_leakage_study.py" in explanation
