"""Every sknorm estimator on a torch device, checked against numpy.

    python benchmarks/array_api_device_check.py                 # cuda if present
    python benchmarks/array_api_device_check.py --device cpu    # anywhere
    python benchmarks/array_api_device_check.py --rows 1000000 --features 64

For each estimator (and the parameter variants below), in float32 and float64:
fit and transform with ``array_api_dispatch=True`` on ``torch`` tensors on
``--device``, then check that the output is a tensor on that device with the
numpy output's dtype, that every fitted array attribute is a tensor on that
device, and compare values with the numpy path on the same data (output:
relative to the result's largest value, 1e-5 for float32 and 1e-10 for
float64, codes exactly up to one bin; attributes: 1e-10, relative to their
largest value). ``inverse_transform`` is checked the same way where it exists.
Prints one row per case (times: device fit + transform, synchronized, against
numpy's on the host) and exits with status 1 if any case fails.
"""

import argparse
import os
import sys
import time
import traceback

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # scikit-learn needs it, before scipy

import numpy as np

#: (class name, parameters) of every case.
CASES = [
    ("StandardScaler", {}),
    ("StandardScaler", {"with_mean": False}),
    ("StandardScaler", {"clip": True}),
    ("MinMaxScaler", {}),
    ("MinMaxScaler", {"feature_range": (-1, 2), "clip": True}),
    ("MaxAbsScaler", {}),
    ("MaxAbsScaler", {"clip": True}),
    ("RobustScaler", {}),
    ("RobustScaler", {"unit_variance": True}),
    ("Normalizer", {}),
    ("Normalizer", {"norm": "l1"}),
    ("Normalizer", {"norm": "max"}),
    ("Normalizer", {"norm": 3.0, "eps": 1e-12}),
    ("Normalizer", {"groups": [slice(0, 4), slice(4, None)], "weights": [1.0, 3.0]}),
    ("RowStandardizer", {}),
    ("RowStandardizer", {"method": "rms"}),
    (
        "RowStandardizer",
        {"eps": 1e-5, "groups": [slice(0, None, 2), slice(1, None, 2)]},
    ),
    ("EmbeddingNormalizer", {}),
    ("EmbeddingNormalizer", {"n_remove": 1}),
    ("EmbeddingNormalizer", {"whiten": "pca", "n_components": 4}),
    ("EmbeddingNormalizer", {"whiten": "zca", "norm": None}),
    ("EmbeddingQuantizer", {}),
    ("EmbeddingQuantizer", {"dtype": "uint8", "quantile_range": (1, 99)}),
    ("EmbeddingQuantizer", {"dtype": "binary"}),
    ("EmbeddingQuantizer", {"dtype": "binary", "center": "median"}),
]


def _data(n_rows, n_features, dtype):
    rng = np.random.default_rng(0)
    # Scales within a factor 100 of each other: the covariance's eigenvectors
    # (EmbeddingNormalizer) are then well conditioned, so that numpy's and
    # the device's agree to rounding, as the other statistics do.
    scales = np.geomspace(0.1, 10, n_features)
    offsets = np.linspace(-10, 1e4, n_features)
    return (rng.normal(size=(n_rows, n_features)) * scales + offsets).astype(dtype)


def _relative_error(actual, expected):
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    scale = np.nanmax(np.abs(expected), initial=0.0) or 1.0
    return float(np.nanmax(np.abs(actual - expected), initial=0.0) / scale)


def _synchronize(torch, device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _check_case(name, params, dtype, X, device, torch, sklearn, sknorm):
    """Return (problems, output error, attribute error, device s, numpy s)."""
    estimator = getattr(sknorm, name)(**params)
    problems = []
    start = time.perf_counter()
    reference = sklearn.base.clone(estimator).fit(X)
    expected = reference.transform(X)
    numpy_seconds = time.perf_counter() - start
    X_device = torch.asarray(X, device=device)
    _synchronize(torch, device)
    start = time.perf_counter()
    with sklearn.config_context(array_api_dispatch=True):
        fitted = sklearn.base.clone(estimator).fit(X_device)
        result = fitted.transform(X_device)
    _synchronize(torch, device)
    device_seconds = time.perf_counter() - start
    if not isinstance(result, torch.Tensor):
        problems.append(f"output is a {type(result).__name__}")
        return problems, np.nan, np.nan, device_seconds, numpy_seconds
    if result.device.type != torch.device(device).type:
        problems.append(f"output on {result.device}")
    output = result.cpu().numpy()
    if output.dtype != expected.dtype:
        problems.append(f"output {output.dtype}, numpy {expected.dtype}")
    if expected.dtype.kind in "iu":
        output_error = float(np.abs(output.astype(int) - expected.astype(int)).max())
        tolerance = 1.0  # one bin
    else:
        output_error = _relative_error(output, expected)
        tolerance = 1e-5 if dtype == "float32" else 1e-10
    if not output_error <= tolerance:
        problems.append(f"output error {output_error:.1e}")
    attribute_error, worst = 0.0, ""
    for key, value in vars(reference).items():
        if not isinstance(value, np.ndarray):
            continue
        attribute = getattr(fitted, key)
        if not isinstance(attribute, torch.Tensor):
            problems.append(f"{key} is a {type(attribute).__name__}")
            continue
        if attribute.device.type != torch.device(device).type:
            problems.append(f"{key} on {attribute.device}")
        if value.dtype.kind == "f":
            error = _relative_error(attribute.cpu().numpy(), value)
            if error > attribute_error:
                attribute_error, worst = error, key
    if not attribute_error <= 1e-10:
        problems.append(f"{worst} error {attribute_error:.1e}")
    if hasattr(fitted, "inverse_transform"):
        with sklearn.config_context(array_api_dispatch=True):
            inverse = fitted.inverse_transform(result)
        expected_inverse = reference.inverse_transform(expected)
        inverse_error = _relative_error(inverse.cpu().numpy(), expected_inverse)
        if not inverse_error <= (1e-4 if dtype == "float32" else 1e-10):
            problems.append(f"inverse error {inverse_error:.1e}")
        if inverse.device.type != torch.device(device).type:
            problems.append(f"inverse on {inverse.device}")
    return problems, output_error, attribute_error, device_seconds, numpy_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default=None,
        help="torch device (default: cuda if available, else cpu)",
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=16)
    args = parser.parse_args(argv)

    import sklearn
    import sklearn.base
    import torch

    import sknorm

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda needs torch with CUDA; use --device cpu")
    print(
        f"sknorm {sknorm.__version__}, scikit-learn {sklearn.__version__}, torch "
        f"{torch.__version__}, device {device}, X {args.rows} x {args.features}\n"
    )
    header = (
        f"{'estimator':<58}{'dtype':<9}{'output err':>11}{'attr err':>10}"
        f"{'device s':>10}{'numpy s':>9}  result"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    for dtype in ("float32", "float64"):
        X = _data(args.rows, args.features, dtype)
        for name, params in CASES:
            label = name + (
                "(" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")"
                if params
                else ""
            )
            try:
                problems, out_err, attr_err, dev_s, np_s = _check_case(
                    name, params, dtype, X, device, torch, sklearn, sknorm
                )
            except Exception:  # report and go on: the table is the result
                problems = [traceback.format_exc().strip().splitlines()[-1]]
                out_err = attr_err = dev_s = np_s = np.nan
            failures += bool(problems)
            verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
            print(
                f"{label[:57]:<58}{dtype:<9}{out_err:>11.1e}{attr_err:>10.1e}"
                f"{dev_s:>10.3f}{np_s:>9.3f}  {verdict}"
            )
    total = 2 * len(CASES)
    print(f"\n{total - failures} of {total} cases ok on {device}.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
