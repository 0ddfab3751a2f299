"""The API's personas and fresh throttles for the lab import's API tests, which live here with
the rest of the lab import's tests rather than under tests/api/."""

from tests.api.conftest import _fresh_throttle, api  # noqa: F401
