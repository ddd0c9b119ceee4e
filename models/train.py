#!/usr/bin/env python3
"""Train Veil's reference models from data that ships inside scikit-learn (no network)
and export them as plain-op ONNX graphs (MatMul, Add, Relu, Mul, Concat, Softmax;
opset 13, IR version 8) that tract runs.

    python3 -m venv .venv && .venv/bin/pip install -r models/requirements.txt
    .venv/bin/python models/train.py

Writes models/data/*.csv (features, target and the fixed train/test split),
models/*.onnx and models/manifest.json (shapes, classes, measured test accuracy).
Preprocessing (standardisation, pixel scaling) is folded into the first layer, so the
ONNX graph takes the raw features exactly as they appear in the CSV.
"""

import csv
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0


def write_csv(name, X, y, test_mask, fmt):
    path = os.path.join(HERE, "data", name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([f"x{i}" for i in range(X.shape[1])] + ["target", "split"])
        for row, t, is_test in zip(X, y, test_mask):
            w.writerow([fmt(v) for v in row] + [int(t), "test" if is_test else "train"])


def split(X, y):
    idx = np.arange(len(y))
    _, test_idx = train_test_split(idx, test_size=0.25, random_state=SEED, stratify=y)
    mask = np.zeros(len(y), dtype=bool)
    mask[test_idx] = True
    return mask


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def graph(name, nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="veil models/train.py")
    m.ir_version = 8
    return m


def breast_cancer():
    data = load_breast_cancer()
    X, y = data.data.astype(np.float64), data.target
    test = split(X, y)
    write_csv("breast_cancer.csv", X, y, test, lambda v: repr(float(v)))
    mu, sigma = X[~test].mean(axis=0), X[~test].std(axis=0)
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED)
    clf.fit((X[~test] - mu) / sigma, y[~test])
    acc = clf.score((X[test] - mu) / sigma, y[test])
    # Fold the standardisation into the weights: z = x·(w/σ) + (b − Σ w μ/σ).
    w = (clf.coef_[0] / sigma).astype(np.float32).reshape(30, 1)
    b = np.array([clf.intercept_[0] - np.sum(clf.coef_[0] * mu / sigma)], dtype=np.float32)
    # softmax([−z/2, z/2]) = [σ(−z), σ(z)]: both class probabilities from plain ops.
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["z"]),
        helper.make_node("Mul", ["z", "neg_half"], ["z0"]),
        helper.make_node("Mul", ["z", "half"], ["z1"]),
        helper.make_node("Concat", ["z0", "z1"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array([-0.5], dtype=np.float32), "neg_half"),
        numpy_helper.from_array(np.array([0.5], dtype=np.float32), "half"),
    ]
    model = graph(
        "breast_cancer_logreg",
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 30])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
        inits,
    )
    save(model, "breast_cancer_logreg.onnx")
    return {
        "name": "breast-cancer-logreg",
        "file": "breast_cancer_logreg.onnx",
        "data": "data/breast_cancer.csv",
        "task": "binary classification of a breast mass from 30 measurements",
        "input": {"name": "input", "shape": [None, 30]},
        "outputs": ["logits", "probabilities"],
        "classes": [str(c) for c in data.target_names],
        "test_accuracy": round(float(acc), 6),
        "test_rows": int(test.sum()),
    }


def digits():
    data = load_digits()
    X, y = data.data.astype(np.float64), data.target
    test = split(X, y)
    write_csv("digits.csv", X, y, test, lambda v: str(int(v)))
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=600, random_state=SEED)
    clf.fit(X[~test] / 16.0, y[~test])
    acc = clf.score(X[test] / 16.0, y[test])
    w1 = (clf.coefs_[0] / 16.0).astype(np.float32)
    b1 = clf.intercepts_[0].astype(np.float32)
    w2 = clf.coefs_[1].astype(np.float32)
    b2 = clf.intercepts_[1].astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["o0"]),
        helper.make_node("Add", ["o0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]]
    model = graph(
        "digits_mlp",
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]),
        ],
        inits,
    )
    save(model, "digits_mlp.onnx")
    return {
        "name": "digits-mlp",
        "file": "digits_mlp.onnx",
        "data": "data/digits.csv",
        "task": "handwritten digit (8x8 pixels, values 0-16) classification",
        "input": {"name": "input", "shape": [None, 64]},
        "outputs": ["logits", "probabilities"],
        "classes": [str(c) for c in data.target_names],
        "test_accuracy": round(float(acc), 6),
        "test_rows": int(test.sum()),
    }


def main():
    models = [breast_cancer(), digits()]
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"models": models}, f, indent=2)
        f.write("\n")
    for m in models:
        print(f"{m['name']}: test accuracy {m['test_accuracy']:.4f} on {m['test_rows']} rows")


if __name__ == "__main__":
    main()
