"""The fake provider behaves like OpenAI as the real SDK sees it, so tests built on it mean something."""

import openai
import pytest


def sdk(server, **kw):
    return openai.OpenAI(api_key="k", base_url=server.url, max_retries=kw.pop("max_retries", 0), **kw)


def test_completion_and_usage(openai_server):
    openai_server.reply = "Hello there [1]."
    response = sdk(openai_server).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "Hello there [1]."
    assert response.usage.completion_tokens == 3
    assert openai_server.chat_requests()[0]["messages"][0]["content"] == "hi"


def test_stream_yields_tokens_then_usage(openai_server):
    openai_server.reply = "one two three"
    stream = sdk(openai_server).chat.completions.create(
        model="m", messages=[], stream=True, stream_options={"include_usage": True})
    events = list(stream)
    assert "".join(e.choices[0].delta.content or "" for e in events if e.choices) == "one two three"
    assert events[-1].usage.completion_tokens == 3


def test_cut_stream_is_a_broken_body(openai_server):
    openai_server.reply = "one two three four"
    openai_server.cut_stream(after_tokens=2)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for event in sdk(openai_server).chat.completions.create(model="m", messages=[], stream=True):
            received.append(event.choices[0].delta.content)
    assert received == ["one ", "two "]


def test_scripted_status_then_recovery(openai_server):
    openai_server.fail(429)
    with pytest.raises(openai.RateLimitError):
        sdk(openai_server).chat.completions.create(model="m", messages=[])
    assert sdk(openai_server).chat.completions.create(model="m", messages=[]).choices[0].message.content


def test_slow_answer_times_out(openai_server):
    openai_server.slow(30)
    with pytest.raises(openai.APITimeoutError):
        sdk(openai_server, timeout=0.3).chat.completions.create(model="m", messages=[])


def test_embeddings_are_deterministic_in_both_encodings(openai_server):
    client = sdk(openai_server)
    first = client.embeddings.create(model="e", input=["a", "b"]).data
    again = client.embeddings.create(model="e", input=["a"], encoding_format="float").data
    assert len(first) == 2 and len(first[0].embedding) == openai_server.dims
    assert first[0].embedding == pytest.approx(again[0].embedding, abs=1e-6)
    assert first[0].embedding != first[1].embedding
