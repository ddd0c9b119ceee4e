"""Concrete ML (Zama) on the breast-cancer split Veil uses: the same training and
held-out rows (models/data/breast_cancer.csv), a logistic regression quantised to
N_BITS, compiled to TFHE, then the client/server deployment API row by row: encrypt on
the client, run on the server with the evaluation keys, decrypt on the client.
Prints one JSON line (medians over the held-out rows, sizes, accuracy)."""

import csv
import json
import statistics
import sys
import tempfile
import time

import numpy as np
from concrete.ml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
from concrete.ml.sklearn import LogisticRegression
from sklearn.preprocessing import StandardScaler

path, n_bits = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8
rows = list(csv.reader(open(path)))[1:]
X = np.array([[float(v) for v in r[:-2]] for r in rows])
y = np.array([int(r[-2]) for r in rows])
test = np.array([r[-1] == "test" for r in rows])
scaler = StandardScaler().fit(X[~test])
Xtr, Xte = scaler.transform(X[~test]), scaler.transform(X[test])
ytr, yte = y[~test], y[test]

model = LogisticRegression(n_bits=n_bits)
model.fit(Xtr, ytr)
float_acc = float((model.predict(Xte, fhe="disable") == yte).mean())
t = time.perf_counter()
model.compile(Xtr)
compile_s = time.perf_counter() - t

with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as kd:
    FHEModelDev(path_dir=d, model=model).save()
    client = FHEModelClient(path_dir=d, key_dir=kd)
    t = time.perf_counter()
    client.generate_private_and_evaluation_keys()
    keygen_s = time.perf_counter() - t
    eval_keys = client.get_serialized_evaluation_keys()
    server = FHEModelServer(path_dir=d)
    server.load()
    enc_t, run_t, dec_t, preds = [], [], [], []
    q_bytes = a_bytes = 0
    for x in Xte:
        t = time.perf_counter()
        q = client.quantize_encrypt_serialize(x.reshape(1, -1))
        enc_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        a = server.run(q, eval_keys)
        run_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = client.deserialize_decrypt_dequantize(a)
        dec_t.append(time.perf_counter() - t)
        preds.append(int(np.argmax(out, axis=1)[0]) if out.shape[-1] > 1 else int(out.ravel()[0] > 0.5))
        q_bytes, a_bytes = len(q), len(a)
    fhe_acc = float((np.array(preds) == yte).mean())

ms = lambda v: statistics.median(v) * 1e3
print(json.dumps({
    "engine": "concrete-ml", "n_bits": n_bits, "rows": int(len(yte)),
    "compile_s": compile_s, "keygen_s": keygen_s,
    "encrypt_ms_per_row": ms(enc_t), "server_ms_per_row": ms(run_t), "decrypt_ms_per_row": ms(dec_t),
    "server_rows_per_s": 1.0 / statistics.median(run_t),
    "query_bytes_per_row": q_bytes, "answer_bytes_per_row": a_bytes, "evaluation_key_bytes": len(eval_keys),
    "accuracy_float": float_acc, "accuracy_fhe": fhe_acc,
}))
