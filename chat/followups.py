"""Follow-up questions: when to rewrite one as a stand-alone search query, and the short prompt that does it.

"And what about the second one?" means nothing to a search index. With a language model configured, such
a question is rewritten from the recent conversation into a query that names what it refers to ("Borealis
heater warranty"): one short model call per turn, kept on the question (Message.rewritten_query). Offline,
or if that call fails, the search falls back to chat.prompts.retrieval_query.

Pure functions, no database and no model. The rule that decides whether a question needs the call is cheap
and errs towards rewriting: a needless rewrite costs one small call, a missed one retrieves the wrong passages.
"""

import re
from collections.abc import Sequence

# Words that point back at something said before ("it", "the second one", "the same"): English only; a
# question in another language is rewritten when it is short (see needs_rewrite).
REFERRING = frozenset("""
    it its itself they them their theirs themselves this that these those he him his she her hers one ones
    former latter above below previous earlier same other others another else more first second third fourth
    last both either neither there then such
""".split())
OPENERS = ("and", "but", "also", "so", "or", "then", "what about", "how about", "why not", "what else")
SHORT_WORDS = 4  # a question of fewer words than this leans on the conversation, whatever its language
HISTORY_MESSAGES = 6  # the last three exchanges are what a follow-up refers to
MESSAGE_CHARS = 800  # of each earlier message, enough to hold the names an answer gave
QUERY_CHARS = 500

REWRITE_RULES = """You turn the last question of a conversation into one stand-alone search query for a \
document search engine. Replace every reference to the conversation (it, they, that, the second one, the \
same) with what it refers to, and keep the question's language. Reply with the query only: no quotes, no \
explanation. If the question already stands alone, reply with it unchanged."""

_WORD = re.compile(r"\w+(?:['’]\w+)?")
_LABEL = re.compile(r"^(?:search\s+)?query\s*:\s*", re.IGNORECASE)


def needs_rewrite(question: str, earlier_questions: Sequence[str]) -> bool:
    """A question is a follow-up when the chat has an earlier question and this one leans on it: a word that
    points back (it, they, that, the second one, ...), an opening like "and" or "what about", or fewer than
    four words."""
    if not any(q.strip() for q in earlier_questions):
        return False
    words = [w.lower() for w in _WORD.findall(question)]
    text = " ".join(words)
    return (len(words) < SHORT_WORDS or any(w in REFERRING for w in words)
            or any(text == o or text.startswith(o + " ") for o in OPENERS))


def rewrite_messages(question: str, history: Sequence[dict]) -> list[dict]:
    """The rewrite call's prompt: the rules, then the recent conversation and the question to rewrite."""
    lines = [f"{m['role']}: {_clip(m['content'], MESSAGE_CHARS)}" for m in history[-HISTORY_MESSAGES:]]
    conversation = "\n\n".join(lines)
    return [
        {"role": "system", "content": REWRITE_RULES},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast question: {question}\n\nSearch query:"},
    ]


def clean_query(reply: str) -> str:
    """The query from the model's reply: its first line, without a "Query:" label or quotes ("" if none)."""
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip("\"'“”«»`").strip()
    return _clip(line, QUERY_CHARS)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"
