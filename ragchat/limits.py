"""Counters for the limits against abuse and cost, shared by every worker process through Django's cache.

    n = count("login-account", "alice", seconds=900)     # this window's count after adding one
    retry_after(900)                                     # seconds until this window ends

Windows are fixed: a counter lives in a key named after the window it counts (now // seconds, shifted per
key so that not every counter resets at the same instant), so moving on to the next window needs no expiry
to have happened, which keeps the database and Redis caches in step. The increment is atomic on both
(one upsert on the database cache, ragchat.cache; Redis INCR): a burst of parallel requests is counted request
by request.
"""

import hashlib
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache, caches

from ragchat.cache import DatabaseCache


def now() -> float:
    """The clock every window reads (tests move it forward instead of sleeping)."""
    return time.time()


def count(scope: str, ident: str, *, seconds: int, delta: int = 1) -> int:
    """Add `delta` to this window's counter for (scope, ident) and return the new value."""
    key, _ = _window(scope, ident, seconds)
    backend = caches["default"]  # `cache` is a proxy to it, which isinstance() cannot see through
    if delta > 0 and isinstance(backend, DatabaseCache) and backend.counts_in_one_statement:  # ragchat/cache.py
        return backend.count(key, delta, timeout=seconds + 60)
    # Redis (or a database without a returning upsert): incr() first, the window's counter usually exists.
    try:
        return cache.incr(key, delta)
    except ValueError:  # nothing counted in this window yet (or it expired just now)
        if delta <= 0:
            return 0
    if cache.add(key, delta, timeout=seconds + 60):
        return delta
    return cache.incr(key, delta)  # another worker added it between our incr() and add()


def peek(scope: str, ident: str, *, seconds: int) -> int:
    """This window's count for (scope, ident), without adding to it."""
    return cache.get(_window(scope, ident, seconds)[0], 0)


def reset(scope: str, ident: str, *, seconds: int) -> None:
    cache.delete(_window(scope, ident, seconds)[0])


def retry_after(scope: str, ident: str, *, seconds: int) -> int:
    """Whole seconds until the window of (scope, ident) ends, at least 1."""
    _, start = _window(scope, ident, seconds)
    return max(1, int(start + seconds - now() + 0.999))


def _window(scope: str, ident: str, seconds: int) -> tuple[str, float]:
    digest = hashlib.sha256(f"{scope}\0{ident}".encode()).hexdigest()[:32]  # any text makes a valid key
    shift = int(digest[:8], 16) % seconds
    number = int((now() - shift) // seconds)
    # "limits:", not the "limit:" of earlier releases: they stored counters as pickles, which the database cache's
    # upsert cannot add to (a server upgraded within a window would answer 500 until the window ended).
    return f"limits:{scope}:{digest}:{number}", number * seconds + shift


def client_address(request) -> str:
    """The address a per-address limit counts: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address
    the outermost trusted proxy received the request from. IPv6 clients are counted per /64, the block one
    subscriber usually holds, so hopping between addresses of one's own block does not reset the count."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            address = forwarded[-min(proxies, len(forwarded))]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
