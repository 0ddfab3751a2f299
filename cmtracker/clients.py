"""Who is on the other end: the client address that throttles and lockouts count."""

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    """The address the API throttle counts, for django-axes and anyone else who counts attempts.

    DRF's rule, so the two never disagree: with NUM_PROXIES = n > 0, the n-th address from the end
    of X-Forwarded-For (the one our outermost proxy saw); with 0, REMOTE_ADDR and no header.
    """
    return BaseThrottle().get_ident(request) or None
