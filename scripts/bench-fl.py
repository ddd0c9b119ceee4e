"""Flower's simulation engine on the federation `veil bench fl` runs, in the same run.

The same data (models/data/breast_cancer.csv, train.py's split), the same non-IID rule
(crates/veil-fl/src/shard.rs: rows ordered by (label, position), cut into 2N shards,
client k holds shards k and 2N-1-k), the same model and local training (logistic
regression on features scaled to [0, 1] by every row's range, full-batch gradient
descent in float32 with the same step and L2), FedAvg weighted by row counts, the same
rounds. Flower runs it with `flwr.simulation.run_simulation` (Ray backend), without
secure aggregation; accuracy on the held-out rows after every round, and wall time
per round.

    python bench-fl.py CSV CLIENTS ROUNDS EPOCHS LR L2
"""
import csv
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import Context, ndarrays_to_parameters  # noqa: E402
from flwr.server import ServerApp, ServerAppComponents, ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

path, n, rounds, epochs, lr, l2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])

rows = list(csv.reader(open(path)))[1:]
X = np.array([[float(v) for v in r[:-2]] for r in rows], dtype=np.float32)
y = np.array([int(r[-2]) for r in rows], dtype=np.float32)
split = [r[-1] for r in rows]
lo, hi = X.min(axis=0), X.max(axis=0)
Xs = ((X - lo) / (hi - lo)).astype(np.float32)
train = [i for i, s in enumerate(split) if s == "train"]
test = [i for i, s in enumerate(split) if s == "test"]
Xtr, ytr, Xte, yte = Xs[train], y[train], Xs[test], y[test]


def shard(k):
    order = sorted(range(len(ytr)), key=lambda i: (ytr[i], i))
    shards, size = 2 * n, len(ytr) // (2 * n)
    cut = lambda s: order[s * size : (len(ytr) if s + 1 == shards else (s + 1) * size)]
    return sorted(cut(k) + cut(shards - 1 - k))


def train_lr(w, b, Xk, yk):
    w, b = w.astype(np.float32).copy(), np.float32(b)
    for _ in range(epochs):
        err = 1.0 / (1.0 + np.exp(-(Xk @ w + b))) - yk
        w -= np.float32(lr) * ((Xk.T @ err) / len(yk) + np.float32(l2) * w)
        b -= np.float32(lr) * err.sum() / len(yk)
    return w, b


def accuracy(w, b):
    return float(((Xte @ w + b >= 0) == (yte == 1)).mean())


class Client(NumPyClient):
    def __init__(self, k):
        idx = shard(k)
        self.X, self.y = Xtr[idx], ytr[idx]

    def fit(self, parameters, config):
        w, b = train_lr(parameters[0], parameters[1][0], self.X, self.y)
        return [w, np.array([b], dtype=np.float32)], len(self.y), {}


marks = []


def evaluate(server_round, parameters, config):
    marks.append((server_round, time.time(), accuracy(parameters[0], parameters[1][0])))
    return 0.0, {}


def server_fn(context: Context):
    init = ndarrays_to_parameters([np.zeros(X.shape[1], dtype=np.float32), np.zeros(1, dtype=np.float32)])
    strategy = FedAvg(
        fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
        initial_parameters=init, evaluate_fn=evaluate,
    )
    return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))


client_app = ClientApp(client_fn=lambda context: Client(int(context.node_config["partition-id"])).to_client())
start = time.time()
run_simulation(
    server_app=ServerApp(server_fn=server_fn), client_app=client_app, num_supernodes=n,
    backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}, verbose_logging=False,
)
total = time.time() - start
marks.sort()
for (r, t, acc), (_, t0, _) in zip(marks[1:], marks[:-1]):
    print(json.dumps({"round": r, "accuracy": acc, "wall_ms": round((t - t0) * 1000, 1)}))
print(json.dumps({"total_s": round(total, 2)}))
