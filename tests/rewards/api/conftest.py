"""The API personas of tests/api, for the tests of the rewards API."""

from tests.api.conftest import _fresh_throttle, api, negative, personas  # noqa: F401
