"""Fixtures for banlog's integration tests; the helpers behind them live in banlogtest.py."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from banlogtest import EXT, PHP, ROOT, SIDECAR, Rsyslog, run_php  # noqa: E402,F401  (re-exported)


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
