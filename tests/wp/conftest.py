"""Fixtures of the WordPress end-to-end suite: one real stack per session (see support/wordpress.py)."""
import pytest

from support.http import new_source
from support.paths import EXT
from support.wordpress import Stack


class Site:
    """The stack as seen through one of the two php-fpm masters."""

    def __init__(self, stack, mode):
        self.stack = stack
        self.mode = mode
        self.fallback = mode == "fallback"

    def client(self, source=None, ipv6=False):
        return self.stack.client(source or new_source(), fallback=self.fallback, ipv6=ipv6)

    def admin(self):
        c = self.client("127.0.0.1")
        c.cookies = dict(self.stack.admin.cookies)
        return c


@pytest.fixture(scope="session")
def stack():
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    s = Stack(log=lambda *a: None)
    s.start()
    s.configure_logging()
    s.create_app_password()
    yield s
    s.stop()


@pytest.fixture
def source():
    return new_source()


@pytest.fixture(params=["extension", "fallback"])
def mode(request):
    return request.param

@pytest.fixture
def site(stack, mode):
    stack.configure_logging()
    return Site(stack, mode)
