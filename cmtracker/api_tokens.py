"""API tokens end like web sessions (cmtracker/middleware.py): after the role's idle limit
(staff 15 minutes, patients 30) without a request, and SESSION_ABSOLUTE_SECONDS (12 hours) after
signing in, however busy. Each sign-in makes a new key; the database keeps only its hash."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from cmtracker.models import ApiToken, User


def idle_limit(user: User) -> timedelta:
    staff = user.is_staff or user.is_staff_member
    seconds = (
        settings.STAFF_IDLE_TIMEOUT_SECONDS if staff else settings.PATIENT_IDLE_TIMEOUT_SECONDS
    )
    return timedelta(seconds=seconds)


def _expiry(*, user: User, created: datetime, now: datetime) -> datetime:
    """The nearer of the idle limit from now and the absolute limit from the sign-in."""
    absolute = timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)
    return min(now + idle_limit(user), created + absolute)


def api_token_new(*, user: User) -> tuple[ApiToken, str]:
    """A new token for a sign-in; the user's other tokens keep working until they end. Tokens
    that ended a while ago are removed here (kept until then so their holders learn why)."""
    now = timezone.now()
    ApiToken.objects.filter(
        user=user, expiry__lt=now - timedelta(seconds=settings.SESSION_ABSOLUTE_SECONDS)
    ).delete()
    # knox's manager takes the time left, not the moment.
    return ApiToken.objects.create(user=user, expiry=_expiry(user=user, created=now, now=now) - now)


def api_token_use(*, token: ApiToken) -> bool:
    """Whether the token is still in force; if so its idle clock starts again."""
    now = timezone.now()
    if token.expiry is None or token.expiry <= now:
        return False
    token.last_used = now
    token.expiry = _expiry(user=token.user, created=token.created, now=now)
    ApiToken.objects.filter(pk=token.pk).update(last_used=token.last_used, expiry=token.expiry)
    return True


def api_token_revoke(*, user: User, digest: str) -> bool:
    """Revoke one of `user`'s tokens; False when they have none by that digest."""
    return ApiToken.objects.filter(user=user, digest=digest).delete()[0] > 0


def api_tokens_revoke_all(*, user: User) -> int:
    return ApiToken.objects.filter(user=user).delete()[0]


def api_tokens_active(*, user: User):
    return ApiToken.objects.filter(user=user, expiry__gt=timezone.now())
