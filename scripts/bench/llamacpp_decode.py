"""llama.cpp (through llama-cpp-python) on the same GGUF, prompt and greedy decoding as
`veil bench llm`: time to first token (prefill and the first sample) and decode rate,
the median of RUNS, as one JSON line.

Usage: llama_cpp.py MODEL THREADS TOKENS RUNS PROMPT
"""

import json
import os
import resource
import sys
import time

from llama_cpp import Llama

model, threads, tokens, runs, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
llm = Llama(model_path=model, n_threads=threads, n_threads_batch=threads, n_ctx=2048, verbose=False)
ids = llm.tokenize(prompt.encode(), add_bos=False, special=False)
eos = llm.token_eos()
results = []
for _ in range(runs):
    llm.reset()
    started = time.perf_counter()
    llm.eval(ids)
    token = llm.sample(temp=0.0)
    first = time.perf_counter() - started
    n = 1
    while n < tokens and token != eos:
        llm.eval([token])
        token = llm.sample(temp=0.0)
        n += 1
    decode = time.perf_counter() - started - first
    results.append((first * 1e3, (n - 1) / decode, n))
results.sort(key=lambda r: r[1])
ttft, rate, n = results[len(results) // 2]
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "engine": "llama.cpp", "prompt_tokens": len(ids), "completion_tokens": n, "ttft_ms": ttft, "decode_tok_s": rate,
    "peak_rss": f"{peak_kib} kB", "file_mib": os.path.getsize(model) / (1 << 20),
}))
