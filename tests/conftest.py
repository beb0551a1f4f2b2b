"""Fixtures shared by every suite. The helpers behind them live in the `support` package next to
this file; tests/ goes on sys.path here, once, so that `import support` works in every suite."""
import pathlib
import sys

import pytest

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from support.fail2ban import copy_fail2ban_with_filters  # noqa: E402
from support.paths import EXT  # noqa: E402
from support.php import run_php  # noqa: E402
from support.rsyslog import Rsyslog  # noqa: E402


@pytest.fixture(scope="session")
def ext_path():
    assert EXT.is_file(), f"{EXT} is missing: run 'make build' first"
    return EXT


@pytest.fixture
def php():
    return run_php


@pytest.fixture
def rsyslog(tmp_path):
    r = Rsyslog(tmp_path / "rsyslog")
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def f2b_conf(tmp_path_factory):
    """fail2ban's configuration with the filters from this tree (not from the binary) in filter.d."""
    return copy_fail2ban_with_filters(tmp_path_factory.mktemp("f2b") / "fail2ban")
