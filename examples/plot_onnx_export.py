"""
Exporting a pipeline to ONNX
============================

A pipeline of sknorm estimators converts with ``skl2onnx`` like one of
scikit-learn's: ``import sknorm.onnx`` registers sknorm's converters, and
the ONNX model runs in ``onnxruntime`` (servers, browsers, mobile) with the
same results, to float32 rounding.
"""

# %%
# Fit, convert, run
# -----------------
import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import sknorm.onnx  # noqa: F401  (registers sknorm's converters)
from sknorm import Normalizer, RobustScaler

X, y = load_breast_cancer(return_X_y=True)
X = X.astype(np.float32)
pipeline = make_pipeline(RobustScaler(), Normalizer(), LogisticRegression())
pipeline.fit(X, y)
model = to_onnx(pipeline, X[:1], options={id(pipeline[-1]): {"zipmap": False}})
session = ort.InferenceSession(
    model.SerializeToString(), providers=["CPUExecutionProvider"]
)
labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})

# %%
# The same predictions
# --------------------
print("ONNX model:", len(model.SerializeToString()), "bytes")
print("labels equal:", bool(np.array_equal(labels, pipeline.predict(X))))
print(
    "largest probability difference:",
    float(np.abs(probabilities - pipeline.predict_proba(X)).max()),
)
