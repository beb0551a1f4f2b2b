"""Fixtures of the WordPress end-to-end suite: one real stack per session (see harness.py)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness  # noqa: E402
from wphelp import Site, new_source  # noqa: E402

@pytest.fixture(scope="session")
def stack():
    assert harness.EXT.is_file(), f"{harness.EXT} is missing: run 'make build' first"
    s = harness.Stack(log=lambda *a: None)
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
