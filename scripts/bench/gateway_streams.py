"""Chats through Veil's gateway with the stock OpenAI client, streamed: STREAMS at once,
each asking QUESTION with greedy decoding for TOKENS new tokens. Reports time to first
token, per-stream decode rate, aggregate tokens/s, p99 inter-token latency, errors.

Usage: gateway_streams.py GATEWAY API_KEY MODEL STREAMS TOKENS QUESTION
"""

import json
import statistics
import sys
import threading
import time

import openai

gateway, key, model, streams, tokens, question = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
client = openai.OpenAI(base_url=gateway + "/v1", api_key=key, max_retries=0, timeout=600)
results, errors, lock = [], [], threading.Lock()


def one():
    try:
        started = time.perf_counter()
        stamps, usage = [], None
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": question}],
            max_tokens=tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                stamps.append(time.perf_counter())
            if chunk.usage:
                usage = chunk.usage
        with lock:
            results.append((started, stamps, usage))
    except Exception as e:  # noqa: BLE001 - every failure counts
        with lock:
            errors.append(repr(e))


begin = time.perf_counter()
threads = [threading.Thread(target=one) for _ in range(streams)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - begin

gaps = [b - a for _, s, _ in results for a, b in zip(s, s[1:])]
completion = sum(u.completion_tokens for _, _, u in results if u)
rates = [(u.completion_tokens - 1) / (s[-1] - s[0]) for _, s, u in results if u and len(s) > 1 and s[-1] > s[0]]
print(json.dumps({
    "engine": "veil gateway (attested worker, OpenAI API, streamed)",
    "streams": streams,
    "errors": len(errors),
    "error_samples": errors[:2],
    "prompt_tokens": statistics.median([u.prompt_tokens for _, _, u in results if u]) if results else None,
    "completion_tokens": completion,
    "ttft_ms": statistics.median([(s[0] - t0) * 1e3 for t0, s, _ in results if s]) if results else None,
    "decode_tok_s": statistics.median(rates) if rates else None,
    "aggregate_tok_s": completion / wall,
    "p99_inter_token_ms": sorted(gaps)[int(0.99 * (len(gaps) - 1))] * 1e3 if gaps else None,
}))
