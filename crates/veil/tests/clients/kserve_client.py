"""Drive Veil's KServe v2 routes with the stock Triton HTTP client, unchanged, in
both its binary-tensor (default) and JSON modes, and compare the answers with
onnxruntime running the same model file on the same rows.

Usage: kserve_client.py HOST:PORT MODEL_NAME MODEL_FILE CSV ROWS

Prints one JSON object per line for the Rust test to check.
"""

import csv
import json
import sys

import numpy as np
import onnxruntime
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, name, model_file, csv_file, n = sys.argv[1:6]
n = int(n)


def emit(**fields):
    print(json.dumps(fields), flush=True)


with open(csv_file) as f:
    rows = [r for r in csv.DictReader(f) if r["split"] == "test"][:n]
x = np.array([[float(r[f"x{i}"]) for i in range(30)] for r in rows], dtype=np.float32)

reference = onnxruntime.InferenceSession(model_file).run(["probabilities"], {"input": x})[0]
client = httpclient.InferenceServerClient(url=url)
emit(case="live", live=client.is_server_live(), ready=client.is_model_ready(name))
meta = client.get_model_metadata(name)
emit(case="metadata", inputs=meta["inputs"], outputs=[o["name"] for o in meta["outputs"]])

for binary in (True, False):
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = None
    if not binary:
        outputs = [
            httpclient.InferRequestedOutput("probabilities", binary_data=False),
            httpclient.InferRequestedOutput("label", binary_data=False),
        ]
    result = client.infer(name, [inp], outputs=outputs)
    probs = result.as_numpy("probabilities")
    labels = [l.decode() if isinstance(l, bytes) else str(l) for l in result.as_numpy("label").tolist()]
    emit(
        case="binary" if binary else "json",
        max_diff=float(np.max(np.abs(probs - reference))),
        shape=list(probs.shape),
        labels=labels,
        argmax_agrees=bool((probs.argmax(axis=1) == reference.argmax(axis=1)).all()),
        receipt=result.get_response()["parameters"]["veil_receipt_id"],
    )

bad = httpclient.InferInput("input", [1, 29], "FP32")
bad.set_data_from_numpy(np.zeros((1, 29), dtype=np.float32))
for case, model in (("bad_shape", name), ("unknown_model", "no-such-model")):
    try:
        client.infer(model, [bad])
        emit(case=case, error=None)
    except InferenceServerException as e:
        emit(case=case, status=e.status(), message=e.message())
