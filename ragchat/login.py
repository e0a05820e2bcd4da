"""Sign-in with limits: failed attempts are counted per account and per client address (ragchat.limits).

An attempt is counted *before* the password is checked and given back when it succeeds, so a burst of
parallel guesses cannot all be checked before the first failure is recorded. Past LOGIN_FAILURES_PER_ACCOUNT
(or LOGIN_FAILURES_PER_ADDRESS) within LOGIN_LOCKOUT_SECONDS the password is not checked at all: the form
says when to try again, and the page answers 429 with Retry-After. After the window the right password
works again. The admin's sign-in form is limited the same way.
"""

import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError

from ragchat import limits

LOCKED = "locked"


class SignInLimitMixin:
    def clean(self):
        username = (self.cleaned_data.get("username") or "").casefold()
        if not username or self.request is None:
            return super().clean()
        seconds = settings.LOGIN_LOCKOUT_SECONDS
        counters = [("login-account", username, settings.LOGIN_FAILURES_PER_ACCOUNT),
                    ("login-address", limits.client_address(self.request), settings.LOGIN_FAILURES_PER_ADDRESS)]
        over = [(scope, ident) for scope, ident, limit in counters
                if limits.count(scope, ident, seconds=seconds) > limit]
        if over:
            self.retry_after = max(limits.retry_after(scope, ident, seconds=seconds) for scope, ident in over)
            minutes = math.ceil(self.retry_after / 60)
            raise ValidationError(
                f"Too many failed sign-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                code=LOCKED)
        cleaned = super().clean()  # a wrong password raises here: the attempt stays counted
        limits.reset("login-account", username, seconds=seconds)
        limits.count("login-address", counters[1][1], seconds=seconds, delta=-1)
        return cleaned


class LimitedAuthenticationForm(SignInLimitMixin, AuthenticationForm):
    pass


class LimitedAdminAuthenticationForm(SignInLimitMixin, AdminAuthenticationForm):
    pass


class LimitedLoginView(LoginView):
    form_class = LimitedAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", LOCKED):
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
