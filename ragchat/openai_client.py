"""The one module that imports `openai`: every call to a model service goes through here.

Both the chat backend (chat/llm.py) and the embedding backend (knowledge/embeddings.py) use this
client, so timeouts, retries and error translation are set in one place and tests patch one seam.
Works with OpenAI and with any OpenAI-compatible server named by OPENAI_BASE_URL.
"""

from functools import lru_cache

import httpx2
import openai
from django.conf import settings

from knowledge.chunking import count_tokens
from ragchat.gate import waiting


class ProviderError(Exception):
    """A model service failed in a way a user should read: timeout, rate limit, 5xx, refused, broken stream."""


# What a failed call can raise: the SDK's errors, and while a stream is read, the HTTP library's own errors
# (a connection cut mid-body surfaces as httpx2.RemoteProtocolError/ReadError, not wrapped by the SDK).
PROVIDER_ERRORS = (openai.OpenAIError, httpx2.HTTPError)


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str, timeout: float, max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key or "not-needed",  # local OpenAI-compatible servers accept any key
        base_url=base_url or None,
        timeout=timeout,
        max_retries=max_retries,
    )


def client() -> openai.OpenAI:
    return _client(settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_TIMEOUT,
                   settings.OPENAI_MAX_RETRIES)


def describe(exc: Exception) -> str:
    """A readable one-line reason for a failed provider call (never the API key, never a traceback)."""
    if isinstance(exc, openai.APITimeoutError):
        return f"The model service did not answer within {settings.OPENAI_TIMEOUT:g} s."
    if isinstance(exc, openai.APIConnectionError):
        return "Could not connect to the model service."
    if isinstance(exc, openai.RateLimitError):
        return "The model service is rate-limiting requests (429); try again shortly."
    if isinstance(exc, openai.APIStatusError):
        return f"The model service answered with an error ({exc.status_code})."
    if isinstance(exc, httpx2.TimeoutException):
        return f"The model service stopped sending for more than {settings.OPENAI_TIMEOUT:g} s."
    if isinstance(exc, httpx2.HTTPError):
        return BROKEN_STREAM
    return f"The model service failed: {exc.__class__.__name__}."


def embed(texts: list[str], *, model: str) -> list[list[float]]:
    """Embeddings for `texts`, in order, batched by OPENAI_EMBEDDING_BATCH."""
    vectors: list[list[float]] = []
    batch = max(1, settings.OPENAI_EMBEDDING_BATCH)
    try:
        for start in range(0, len(texts), batch):
            with waiting():  # the model service's time holds no place at the gate (ragchat/gate.py)
                response = client().embeddings.create(model=model, input=texts[start:start + batch])
            vectors.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
    except PROVIDER_ERRORS as exc:
        raise ProviderError(describe(exc)) from exc
    return vectors


def chat(messages: list[dict], *, model: str, timeout: float | None = None, max_retries: int | None = None,
         sampling: dict | None = None):
    """One non-streamed chat completion: returns (text, usage dict, model name, finish reason).

    `timeout`/`max_retries` override the settings for this call (a short call that has a fallback);
    `sampling`: temperature, max_tokens, ... as a caller of ragchat's own OpenAI-format API asked."""
    options = {k: v for k, v in {"timeout": timeout, "max_retries": max_retries}.items() if v is not None}
    try:
        with waiting():
            response = (client().with_options(**options) if options else client()).chat.completions.create(
                model=model, messages=messages, **(sampling or {}))
    except PROVIDER_ERRORS as exc:
        raise ProviderError(describe(exc)) from exc
    choice = response.choices[0]
    return choice.message.content or "", _usage(response.usage), response.model or model, choice.finish_reason or "stop"


def _usage(usage) -> dict:
    """The token counts we keep on a Message (DESIGN.md: usage), from the SDK's usage object."""
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens} if usage else {}


def _estimated_usage(messages: list[dict], text: str) -> dict:
    prompt = sum(count_tokens(str(m.get("content", ""))) for m in messages)
    return {"prompt_tokens": prompt, "completion_tokens": count_tokens(text), "estimated": True}


BROKEN_STREAM = "The connection to the model service broke off before the answer was complete."


class ChatStream:
    """A streamed chat completion: iterate for text deltas; afterwards `model`, `usage` and `finish_reason`
    ("stop", or "length" when max_tokens cut it) are known.

    Raises ProviderError if the call fails or the stream breaks, including a stream that ends without a
    finish reason (a proxy that closed the body cleanly). Usage is asked for with
    stream_options.include_usage and recorded if the server sends it.
    """

    def __init__(self, messages: list[dict], *, model: str, sampling: dict | None = None):
        self.messages, self.model, self.usage = messages, model, {}
        self.sampling = sampling or {}
        self.finish_reason = "stop"

    def __iter__(self):
        finished = started = False
        stream = None
        sent: list[str] = []
        try:
            stream = self._open()
            while True:
                with waiting():  # between tokens: the model service's time
                    event = next(stream, None)
                if event is None:
                    break
                started = True
                self.model = event.model or self.model
                if event.usage:
                    self.usage = _usage(event.usage)
                if event.choices:
                    choice = event.choices[0]
                    if choice.delta and choice.delta.content:
                        sent.append(choice.delta.content)
                        yield choice.delta.content
                    if choice.finish_reason:
                        finished, self.finish_reason = True, choice.finish_reason
        except PROVIDER_ERRORS as exc:
            # Mid-stream, the SDK reports a dropped body as a "connection error": say what happened.
            timed_out = isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException)
            raise ProviderError(BROKEN_STREAM if started and not timed_out else describe(exc)) from exc
        finally:
            if stream is not None:
                stream.close()  # also when our caller stops early: free the connection
            if sent and not finished and not self.usage:  # stopped or broken before the usage came: roughly
                self.usage = _estimated_usage(self.messages, "".join(sent))
        if not finished:
            raise ProviderError(BROKEN_STREAM)

    def _open(self):
        with waiting():
            return self._create()

    def _create(self):
        try:
            return client().chat.completions.create(model=self.model, messages=self.messages, stream=True,
                                                    stream_options={"include_usage": True}, **self.sampling)
        except openai.BadRequestError as exc:
            # Some OpenAI-compatible servers refuse the option: stream without usage rather than not at all.
            if "stream_options" not in str(exc):
                raise
            return client().chat.completions.create(model=self.model, messages=self.messages, stream=True,
                                                    **self.sampling)
