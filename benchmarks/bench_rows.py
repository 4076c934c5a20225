"""Row normalizers against scikit-learn and against memory bandwidth.

Run ``python benchmarks/bench_rows.py``. Each line times one operation (best of
several runs) and prints two ratios: sknorm's time over scikit-learn's, and
over a memory-bandwidth reference measured in the same run (copying the same
array once, i.e. reading and writing every value). Only ratios are printed, so
results can be compared across machines.
"""

import time
import warnings

import numpy as np
from scipy import sparse
from sklearn import preprocessing as skp

from sknorm import RowStandardizer, normalize


def best_time(function, repeat=5):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    # scikit-learn's scale(axis=1) warns about its own numerical checks on
    # these shapes; the timings are what matters here.
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
    rng = np.random.default_rng(0)
    rows = []
    for shape in [(200_000, 100), (20_000, 1000), (1_000_000, 8)]:
        X64 = rng.normal(size=shape)
        for dtype in (np.float64, np.float32):
            X = X64.astype(dtype)
            copy = best_time(X.copy)
            for norm in ("l2", "l1"):
                ours = best_time(lambda X=X, norm=norm: normalize(X, norm))
                theirs = best_time(lambda X=X, norm=norm: skp.normalize(X, norm))
                label = f"normalize {norm} {shape} {np.dtype(dtype).name}"
                rows.append((label, ours / theirs, ours / copy))
            ours = best_time(lambda X=X: RowStandardizer().fit_transform(X))
            theirs = best_time(lambda X=X: skp.scale(X, axis=1))
            label = f"RowStandardizer vs scale(axis=1) {shape} {np.dtype(dtype).name}"
            rows.append((label, ours / theirs, ours / copy))
    S = sparse.random(200_000, 1000, density=0.01, format="csr", random_state=0)
    for fmt in ("csr", "csc"):
        X = S.asformat(fmt)
        copy = best_time(X.copy)
        ours = best_time(lambda X=X: normalize(X))
        theirs = best_time(lambda X=X: skp.normalize(X))
        rows.append(
            (f"normalize l2 sparse {fmt} 200000x1000 1%", ours / theirs, ours / copy)
        )
    groups = [slice(c * 10, (c + 1) * 10) for c in range(100)]
    X = rng.normal(size=(20_000, 1000))
    copy = best_time(X.copy)
    ours = best_time(lambda: RowStandardizer(groups=groups).fit_transform(X))
    plain = best_time(lambda: RowStandardizer().fit_transform(X))
    rows.append(("RowStandardizer 100 groups vs no groups", ours / plain, ours / copy))

    width = max(len(label) for label, _, _ in rows)
    print(f"{'operation':<{width}}  {'/ reference':>12}  {'/ memory copy':>14}")
    for label, vs_reference, vs_copy in rows:
        print(f"{label:<{width}}  {vs_reference:>12.2f}  {vs_copy:>14.2f}")


if __name__ == "__main__":
    main()
