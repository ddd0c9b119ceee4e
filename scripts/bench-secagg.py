"""Flower's SecAgg+ at the size `veil bench secagg` measures, in the same run.

Drives Flower's own client stages (flwr.client.mod.secure_aggregation.secaggplus_mod:
_setup, _share_keys, _collect_masked_vectors, _unmask) and the unmask step of its
server workflow (flwr.server.workflow.secure_aggregation.secaggplus_workflow, reproduced
with the same primitives), every client a neighbour of every other (share_num = n, as
in Veil's rounds), one process, parties one after another, CPU time per party.

    python bench-secagg.py CLIENTS DIM DROPOUT
"""
import importlib
import json
import sys
import time

import numpy as np
from flwr.common import bytes_to_ndarray, ndarrays_to_parameters
from flwr.common.secure_aggregation.crypto.shamir import combine_shares
from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
from flwr.common.secure_aggregation.ndarrays_arithmetic import (
    factor_extract,
    get_parameters_shape,
    parameters_addition,
    parameters_mod,
    parameters_subtraction,
)
from flwr.common.secure_aggregation.quantization import dequantize
from flwr.common.secure_aggregation.secaggplus_constants import Key
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

# The package re-exports a function under the module's name: import the module itself.
mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")

n, dim, dropout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
threshold = n // 2 + 1
clip, quant, mod_range, max_weight = 1.0, 1 << 16, 1 << 32, 1000.0
dead = set(range(n - round(n * dropout) + 1, n + 1))
update = [((np.arange(dim) % 2001) - 1000.0).astype(np.float32) / 1000.0]
params = ndarrays_to_parameters(update)

cpu = {nid: 0.0 for nid in range(1, n + 1)}
server = 0.0


def timed(nid, f, *a):
    t = time.process_time()
    out = f(*a)
    cpu[nid] += time.process_time() - t
    return out


states = {nid: mod.SecAggPlusState(nid=nid) for nid in range(1, n + 1)}
setup = {
    Key.SAMPLE_NUMBER: n,
    Key.SHARE_NUMBER: n,
    Key.THRESHOLD: threshold,
    Key.CLIPPING_RANGE: clip,
    Key.TARGET_RANGE: quant,
    Key.MOD_RANGE: mod_range,
    Key.MAX_WEIGHT: max_weight,
}
keys = {nid: timed(nid, mod._setup, st, setup) for nid, st in states.items()}
roster = {str(nid): (k[Key.PUBLIC_KEY_1], k[Key.PUBLIC_KEY_2]) for nid, k in keys.items()}
inbox = {nid: ([], []) for nid in states}
for nid, st in states.items():
    out = timed(nid, mod._share_keys, st, roster)
    for dst, c in zip(out[Key.DESTINATION_LIST], out[Key.CIPHERTEXT_LIST]):
        inbox[dst][0].append(nid)
        inbox[dst][1].append(c)

masked = None
for nid, st in states.items():
    cfg = {Key.SOURCE_LIST: inbox[nid][0], Key.CIPHERTEXT_LIST: inbox[nid][1]}
    out = timed(nid, mod._collect_masked_vectors, st, cfg, 500, params)
    if nid in dead:
        continue
    vec = [bytes_to_ndarray(b) for b in out[Key.MASKED_PARAMETERS]]
    t = time.process_time()
    masked = vec if masked is None else parameters_addition(masked, vec)
    server += time.process_time() - t

active = sorted(set(states) - dead)
shares = {nid: [] for nid in states}
for nid in active:
    out = timed(nid, mod._unmask, states[nid], {Key.ACTIVE_NODE_ID_LIST: active, Key.DEAD_NODE_ID_LIST: sorted(dead)})
    for owner, s in zip(out[Key.NODE_ID_LIST], out[Key.SHARE_LIST]):
        shares[owner].append(s)

t = time.process_time()
unmask_start = t
for nid, share_list in shares.items():
    secret = combine_shares(share_list)
    if nid in active:
        masked = parameters_subtraction(masked, pseudo_rand_gen(secret, mod_range, get_parameters_shape(masked)))
    else:
        for other in states:
            if other == nid:
                continue
            k = generate_shared_key(bytes_to_private_key(secret), bytes_to_public_key(roster[str(other)][0]))
            mask = pseudo_rand_gen(k, mod_range, get_parameters_shape(masked))
            masked = parameters_addition(masked, mask) if nid > other else parameters_subtraction(masked, mask)
recon = parameters_mod(masked, mod_range)
q_total, recon = factor_extract(recon)
agg = dequantize(recon, clip, quant)
for v in agg:
    v += -(len(active) - 1) * clip
    v *= quant / q_total
unmask = time.process_time() - unmask_start
server += unmask
err = float(np.max(np.abs(agg[0] - update[0])))
times = sorted(cpu.values())
print(json.dumps({
    "flwr_aggregator_ms": server * 1e3,
    "flwr_unmask_ms": unmask * 1e3,
    "flwr_client_median_ms": times[len(times) // 2] * 1e3,
    "flwr_client_max_ms": times[-1] * 1e3,
    "flwr_max_error": err,
}))
