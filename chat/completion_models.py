"""What ragchat offers as "models" in its OpenAI-format API (/v1), and what each one searches.

    models_for(user)                 # [ModelInfo("ragchat", ...)]: what GET /v1/models lists for this user
    scope = scope_for(user, "ragchat")   # the part of the knowledge base this model answers from

A model is a view of the knowledge base, not a language model: `ragchat` answers from everything the user
may read. Collections add `ragchat/<collection>`, one per collection the user may read, here and only here;
any other name (another user's collection included) is UnknownModel, which the API answers with 404.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from knowledge.models import Collection

WHOLE_BASE = "ragchat"
# GET /v1/models says when a model was "created"; the whole base has no such date, so a fixed one.
_EPOCH = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


class UnknownModel(Exception):
    """No model of that name that this user may use."""


@dataclass(frozen=True)
class ModelInfo:
    id: str
    created: int  # Unix seconds
    description: str


@dataclass(frozen=True)
class Scope:
    """Where a model's answers come from. `collections`: None for everything the user may read."""

    model: str
    collections: tuple | None = None


def models_for(user) -> list[ModelInfo]:
    whole = ModelInfo(WHOLE_BASE, _EPOCH, "Every document of the knowledge base you may read.")
    return [whole] + [ModelInfo(f"{WHOLE_BASE}/{c.name}", int(c.created_at.timestamp()),
                                c.description or f"The documents of the collection “{c.name}”.")
                      for c in Collection.objects.readable_by(user).order_by("name")]


def scope_for(user, model_id: str) -> Scope:
    """The scope of `model_id` for `user`: the whole readable base, or one collection they may read (checked
    against Collection.readable_by now, like every other read)."""
    if model_id == WHOLE_BASE:
        return Scope(model_id)
    prefix = f"{WHOLE_BASE}/"
    name = model_id[len(prefix):] if model_id.startswith(prefix) else None
    # Exactly the name (MariaDB compares names ignoring case; a model id does not).
    named = Collection.objects.readable_by(user).filter(name__iexact=name) if name else []
    collection = next((c for c in named if c.name == name), None)
    if collection is None:
        shown = model_id if len(model_id) <= 200 else model_id[:200] + "…"
        raise UnknownModel(f"The model '{shown}' does not exist or you do not have access to it.")
    return Scope(model_id, (collection.pk,))
