"""API limits: per-user rates for the costly endpoints, and failed token authentication per client address.

Both answer DRF's 429: {"detail": "Request was throttled. Expected available in N seconds."} with a
Retry-After header. The counters are ragchat.limits' (shared by every worker process, atomic).

    class ChatView(APIView):
        throttle_classes = [rate("chat")]          # settings.API_RATES["chat"], e.g. "20/minute", per user
"""

from django.conf import settings
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import BaseThrottle

from ragchat import limits

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
           "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"20/minute" -> (20, 60): that many requests per that many seconds."""
    number, _, period = rate.partition("/")
    if period not in PERIODS or not number.isdigit():
        raise ValueError(f"A rate is N/second, N/minute, N/hour or N/day, not {rate!r}.")
    return int(number), PERIODS[period]


class UserRate(BaseThrottle):
    """At most settings.API_RATES[scope] requests per user (anonymous requests are refused before this)."""

    scope = ""

    def allow_request(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True
        limit, seconds = parse_rate(settings.API_RATES[self.scope])
        ident = str(request.user.pk)
        used = limits.count(f"rate-{self.scope}", ident, seconds=seconds)
        self._wait = limits.retry_after(f"rate-{self.scope}", ident, seconds=seconds)
        return used <= limit

    def wait(self) -> int:
        return self._wait


def rate(scope: str) -> type[UserRate]:
    if scope not in settings.API_RATES:
        raise ValueError(f"No API rate named {scope!r} in settings.API_RATES.")
    return type(f"{scope.title()}Rate", (UserRate,), {"scope": scope})


class LimitedTokenAuthentication(TokenAuthentication):
    """Token auth that counts unknown or malformed tokens per client address: past TOKEN_FAILURES_PER_ADDRESS
    within TOKEN_LOCKOUT_SECONDS, a failing token gets 429 instead of 401. A valid token always works, so
    one misconfigured script does not lock out its colleagues behind the same address."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            address = limits.client_address(request)
            seconds = settings.TOKEN_LOCKOUT_SECONDS
            if limits.count("token-address", address, seconds=seconds) > settings.TOKEN_FAILURES_PER_ADDRESS:
                wait = limits.retry_after("token-address", address, seconds=seconds)
                raise Throttled(wait=wait, detail=f"Too many invalid tokens from your address. "
                                                  f"Try again in {wait} seconds.")
            raise


class LimitedBearerAuthentication(LimitedTokenAuthentication):
    """The same tokens as `Authorization: Token <key>`, sent as OpenAI's clients send a key: `Bearer <key>`."""

    keyword = "Bearer"
