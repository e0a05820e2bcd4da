"""An OpenAI chat-completions request body, checked and reduced to what ragchat uses. Pure: no database.

    request = parse_completion_request(body)   # CompletionRequest, or raises InvalidRequest(message, param)

What a client sends is read the way OpenAI reads it: `messages` of system/developer/user/assistant turns
whose content is a string or a list of text parts; `stream`, `temperature`, `max_tokens` (or
`max_completion_tokens`), `stream_options.include_usage`. Fields ragchat has no use for (top_p, user, seed,
...) are ignored, as OpenAI-compatible servers do. What it cannot honour is refused: n > 1, images, tools.
The question is the last message, which must be the user's; the messages before it are the history.
"""

from dataclasses import dataclass, field

from django.conf import settings

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_MESSAGES = 2000
EARLIER_MESSAGE_MAX_CHARS = 128_000  # a pasted page in the history is fine; a book per message is not
MAX_TOKENS = 1_000_000


class InvalidRequest(Exception):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message, self.param = message, param


@dataclass
class CompletionRequest:
    model: str
    question: str
    history: list[dict]  # {"role", "content"}, oldest first, the question excluded
    stream: bool = False
    include_usage: bool = False  # streamed: a last chunk with the usage (stream_options.include_usage)
    sampling: dict = field(default_factory=dict)  # temperature, max_tokens: passed to a model that uses them


def parse_completion_request(body) -> CompletionRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required: a model id from GET /v1/models.", "model")
    messages = _messages(body.get("messages"))
    if messages[-1]["role"] != "user":
        raise InvalidRequest("The last message must be the user's: it is the question to answer.", "messages")
    question = messages[-1]["content"]
    if not question.strip():
        raise InvalidRequest("The last user message is empty.", "messages")
    if len(question) > settings.CHAT_MESSAGE_MAX_CHARS:
        raise InvalidRequest(f"The last user message is longer than {settings.CHAT_MESSAGE_MAX_CHARS} characters.",
                             "messages")
    if _optional(body, "n", int, "an integer") not in (None, 1):
        raise InvalidRequest("Only one choice per request is supported: n must be 1.", "n")
    if body.get("tools") or body.get("functions"):
        raise InvalidRequest("Tools and functions are not supported: ragchat answers from its documents.", "tools")
    stream = _optional(body, "stream", bool, "a boolean") or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", "stream_options")
    include_usage = _optional(options or {}, "include_usage", bool, "a boolean", "stream_options.include_usage")
    return CompletionRequest(model=model, question=question, history=messages[:-1], stream=stream,
                             include_usage=bool(include_usage), sampling=_sampling(body))


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'messages' must be a non-empty list of messages.", "messages")
    if len(value) > MAX_MESSAGES:
        raise InvalidRequest(f"At most {MAX_MESSAGES} messages per request.", "messages")
    messages = [_message(m, f"messages[{i}]") for i, m in enumerate(value)]
    for i, message in enumerate(messages):
        if len(message["content"]) > EARLIER_MESSAGE_MAX_CHARS:
            raise InvalidRequest(f"messages[{i}] is longer than {EARLIER_MESSAGE_MAX_CHARS} characters.",
                                 f"messages[{i}].content")
    return messages


def _message(value, param: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{param} must be an object with 'role' and 'content'.", param)
    role = value.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRequest(f"{param}.role must be one of {', '.join(ROLES)}.", f"{param}.role")
    return {"role": ROLES[role], "content": _content(value.get("content"), role, f"{param}.content")}


def _content(value, role: str, param: str) -> str:
    if isinstance(value, str):
        return value
    if value is None and role == "assistant":  # an assistant turn that only called tools
        return ""
    if isinstance(value, list):
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{param} may only hold text parts: {{\"type\": \"text\", \"text\": \"...\"}}.",
                                     param)
            texts.append(part["text"])
        return "\n".join(texts)
    raise InvalidRequest(f"{param} must be a string or a list of text parts.", param)


def _sampling(body: dict) -> dict:
    sampling = {}
    temperature = _optional(body, "temperature", (int, float), "a number")
    if temperature is not None:
        if not 0 <= temperature <= 2:
            raise InvalidRequest("'temperature' must be between 0 and 2.", "temperature")
        sampling["temperature"] = temperature
    for name in ("max_tokens", "max_completion_tokens"):
        limit = _optional(body, name, int, "an integer")
        if limit is not None:
            if not 1 <= limit <= MAX_TOKENS:
                raise InvalidRequest(f"'{name}' must be between 1 and {MAX_TOKENS}.", name)
            sampling["max_tokens"] = limit
    return sampling


def _optional(body: dict, name: str, kind, described: str, param: str | None = None):
    """body[name] if given (null counts as not given), checked to be of `kind`; booleans are not numbers."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidRequest(f"'{param or name}' must be {described}.", param or name)
    return value
