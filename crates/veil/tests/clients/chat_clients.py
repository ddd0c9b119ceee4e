"""Drive Veil's gateway with the stock OpenAI and Ollama Python clients, unchanged.

Usage: chat_clients.py GATEWAY API_KEY MODEL QUESTION MAX_TOKENS SCENARIO

Prints one JSON object per line for the Rust test to check: what each client
received (text, receipt id, usage) or which exception class and status it raised.
"""

import json
import sys

import ollama
import openai

gateway, api_key, model, question, max_tokens, scenario = sys.argv[1:7]
max_tokens = int(max_tokens)
messages = [{"role": "user", "content": question}]


def emit(**fields):
    print(json.dumps(fields), flush=True)


def refusal(name, call):
    try:
        call()
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        emit(case=name, error=type(e).__name__, status=e.status_code, code=body.get("code"), message=body.get("message"))
    except ollama.ResponseError as e:
        emit(case=name, error=type(e).__name__, status=e.status_code, message=e.error)
    else:
        emit(case=name, error=None)


oa = openai.OpenAI(base_url=gateway + "/v1", api_key=api_key, max_retries=0)
ol = ollama.Client(host=gateway, headers={"Authorization": "Bearer " + api_key})

if scenario == "answers":
    listed = [m.id for m in oa.models.list()]
    emit(case="models", ids=listed)

    r = oa.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
    emit(
        case="openai",
        text=r.choices[0].message.content,
        finish=r.choices[0].finish_reason,
        receipt=r.model_extra.get("veil_receipt"),
        completion_tokens=r.usage.completion_tokens,
    )

    pieces, receipt, usage = [], None, None
    stream = oa.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        receipt = (chunk.model_extra or {}).get("veil_receipt") or receipt
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    emit(case="openai_stream", text="".join(pieces), chunks=len(pieces), receipt=receipt, completion_tokens=usage)

    opts = {"num_predict": max_tokens, "temperature": 0}
    r = ol.chat(model=model, messages=messages, stream=False, options=opts)
    emit(case="ollama", text=r.message.content, done=r.done, receipt=(r.model_extra or {}).get("veil_receipt"))
    pieces, receipt = [], None
    for part in ol.chat(model=model, messages=messages, stream=True, options=opts):
        pieces.append(part.message.content or "")
        receipt = (part.model_extra or {}).get("veil_receipt") or receipt
    emit(case="ollama_stream", text="".join(pieces), receipt=receipt)
    g = ol.generate(model=model, prompt=question, stream=False, options=opts)
    emit(case="ollama_generate", text=g.response, receipt=(g.model_extra or {}).get("veil_receipt"))
    emit(case="ollama_tags", names=[m.model for m in ol.list().models])

    bad = openai.OpenAI(base_url=gateway + "/v1", api_key="sk-not-a-grant", max_retries=0)
    refusal("bad_key", lambda: bad.chat.completions.create(model=model, messages=messages))
    refusal(
        "over_grant",
        lambda: oa.chat.completions.create(model=model, messages=messages, max_tokens=100000),
    )
    refusal("unknown_model", lambda: oa.chat.completions.create(model="no-such-model", messages=messages))
    refusal("two_choices", lambda: oa.chat.completions.create(model=model, messages=messages, n=2))
    too_long = [{"role": "user", "content": "tea " * 12000 + question}]
    refusal("over_window", lambda: oa.chat.completions.create(model=model, messages=too_long, max_tokens=8))
    refusal("ollama_bad_key", lambda: ollama.Client(host=gateway).chat(model=model, messages=messages, stream=False))
elif scenario == "refused":
    refusal("openai", lambda: oa.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens))
    refusal(
        "openai_stream",
        lambda: list(oa.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, stream=True)),
    )
    refusal("ollama", lambda: ol.chat(model=model, messages=messages, stream=False))
else:
    sys.exit("unknown scenario " + scenario)
