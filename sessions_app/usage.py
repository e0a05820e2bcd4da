"""Who used what: tokens per user and per day, summed from Message.usage over any set of messages.

An answer's usage is what it cost; a question's is what else was spent on it (its follow-up rewrite, answers
that were regenerated away), so summing every message counts each call once. One grouped query each, done
by the database on both SQLite and MariaDB (JSON keys read with KT and cast to integers).
"""

from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate

from sessions_app.models import Message

USER = "session__owner__username"


def _totals() -> dict:
    def tokens(key: str):
        return Coalesce(Sum(Cast(KT(f"usage__{key}"), IntegerField())), 0)

    return {"answers": Count("id", filter=Q(role=Message.Role.ASSISTANT)),
            "prompt_tokens": tokens("prompt_tokens"), "completion_tokens": tokens("completion_tokens")}


def _with_total(rows) -> list[dict]:
    return [{**row, "total_tokens": row["prompt_tokens"] + row["completion_tokens"]} for row in rows]


def usage_by_user(messages: QuerySet) -> list[dict]:
    """[{username, answers, prompt_tokens, completion_tokens, total_tokens}], the heaviest users first."""
    rows = messages.values(USER).annotate(**_totals()).order_by()
    out = [{"username": row.pop(USER), **row} for row in _with_total(rows)]
    return sorted(out, key=lambda row: (-row["total_tokens"], row["username"]))


def usage_by_day_and_user(messages: QuerySet, *, limit: int) -> list[dict]:
    """[{day, username, answers, ...tokens}], the latest day first, at most `limit` rows."""
    rows = (messages.annotate(day=TruncDate("created_at")).values("day", USER).annotate(**_totals())
            .order_by("-day", USER)[:limit])
    return [{"username": row.pop(USER), **row} for row in _with_total(rows)]
