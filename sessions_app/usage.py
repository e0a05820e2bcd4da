"""Who used what: tokens per user and per day, summed from Message.usage and from ApiUsage (the /v1 API's
calls, which keep no messages) over any set of each.

An answer's usage is what it cost; a question's is what else was spent on it (its follow-up rewrite, answers
that were regenerated away), so summing every message counts each call once. An API call is one answer, its
tokens including its own follow-up rewrite. One grouped query per source, done by the database on both
SQLite and MariaDB (JSON keys read with KT and cast to integers); the two are added up by user (and day).
"""

from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate

from sessions_app.models import Message

USER = "session__owner__username"
CALL_USER = "user__username"
COUNTS = ("answers", "prompt_tokens", "completion_tokens")


def _totals() -> dict:
    def tokens(key: str):
        return Coalesce(Sum(Cast(KT(f"usage__{key}"), IntegerField())), 0)

    return {"answers": Count("id", filter=Q(role=Message.Role.ASSISTANT)),
            "prompt_tokens": tokens("prompt_tokens"), "completion_tokens": tokens("completion_tokens")}


def _call_totals() -> dict:
    return {"answers": Count("id"), "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
            "completion_tokens": Coalesce(Sum("completion_tokens"), 0)}


def _merged(*sources, key) -> dict:
    """Rows of several sources added up per key(row)."""
    rows: dict = {}
    for source in sources:
        for row in source:
            kept = rows.setdefault(key(row), {**row, **dict.fromkeys(COUNTS, 0)})
            for name in COUNTS:
                kept[name] += row[name]
    return rows


def _with_total(rows) -> list[dict]:
    return [{**row, "total_tokens": row["prompt_tokens"] + row["completion_tokens"]} for row in rows]


def usage_by_user(messages: QuerySet, calls: QuerySet | None = None) -> list[dict]:
    """[{username, answers, prompt_tokens, completion_tokens, total_tokens}], the heaviest users first."""
    from_messages = [{"username": row.pop(USER), **row} for row in messages.values(USER).annotate(**_totals())
                     .order_by()]
    from_calls = [] if calls is None else [
        {"username": row.pop(CALL_USER), **row} for row in calls.values(CALL_USER).annotate(**_call_totals())
        .order_by()]
    rows = _with_total(_merged(from_messages, from_calls, key=lambda row: row["username"]).values())
    return sorted(rows, key=lambda row: (-row["total_tokens"], row["username"]))


def usage_by_day_and_user(messages: QuerySet, calls: QuerySet | None = None, *, limit: int) -> list[dict]:
    """[{day, username, answers, ...tokens}], the latest day first, at most `limit` rows. Each source's first
    `limit` rows hold every (day, user) of the first `limit` of their sum, so each is cut at `limit` too."""
    from_messages = [{"username": row.pop(USER), **row} for row in
                     messages.annotate(day=TruncDate("created_at")).values("day", USER).annotate(**_totals())
                     .order_by("-day", USER)[:limit]]
    from_calls = [] if calls is None else [
        {"username": row.pop(CALL_USER), **row} for row in
        calls.annotate(day=TruncDate("created_at")).values("day", CALL_USER).annotate(**_call_totals())
        .order_by("-day", CALL_USER)[:limit]]
    rows = _merged(from_messages, from_calls, key=lambda row: (row["day"], row["username"])).values()
    ordered = sorted(rows, key=lambda row: row["username"])
    ordered.sort(key=lambda row: row["day"], reverse=True)
    return _with_total(ordered[:limit])
