"""The median absolute deviation statistic (``sknorm.stats.deviation``); its
cases below the normal range are in tests/test_adversarial.py."""

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from sknorm.stats import MedianAbsoluteDeviation

from .test_quantiles import _deviation_data


def test_median_absolute_deviation_matches_scipy():
    X = _deviation_data(seed=2)
    mad = MedianAbsoluteDeviation.from_data(X)
    np.testing.assert_array_equal(mad.median, np.nanmedian(X, axis=0))
    np.testing.assert_array_equal(
        mad.mad, median_abs_deviation(X, axis=0, nan_policy="omit")
    )
    np.testing.assert_array_equal(mad.weight_sum, np.sum(~np.isnan(X), axis=0))
    with pytest.raises(TypeError, match="cannot be merged"):
        mad.merge(mad)
    restored = MedianAbsoluteDeviation.from_state(mad.to_state())
    np.testing.assert_array_equal(restored.mad, mad.mad)
