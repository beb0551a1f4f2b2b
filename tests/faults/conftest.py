"""Fixtures for the fault tests: a WordPress stack per module, and a recorder
for the figures of a run (events sent, lines found, time to recover).

The figures go to `$BANLOG_FAULTS_REPORT` (a JSON file), else to `last-run.json` in pytest's
temporary directory; a summary is printed at the end of the run. RELIABILITY.md quotes one.
"""
import json
import os
import pathlib

import pytest

from support.wordpress import Stack

_FIGURES = {}
_REPORT = {"path": None}


@pytest.fixture(scope="session")
def ext_so(ext_path):
    """The built extension (tests/conftest.py's ext_path, under the name these tests use)."""
    return ext_path


@pytest.fixture(scope="module")
def wp_stack(request, ext_so):
    """The real WordPress stack (support/wordpress.py), one per test module, with the module's
    `STACK_ARGS` (php-fpm settings) and an rsyslog without rate limit (the tests count every line)."""
    kw = dict(getattr(request.module, "STACK_ARGS", {}))
    s = Stack(log=lambda *a: None, ext=ext_so, rsyslog_rate_limit=False, **kw)
    s.start()
    s.configure_logging()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def _report_path(tmp_path_factory):
    path = os.environ.get("BANLOG_FAULTS_REPORT")
    p = pathlib.Path(path) if path else tmp_path_factory.getbasetemp() / "last-run.json"
    _REPORT["path"] = p
    return p


@pytest.fixture
def figures(request, _report_path):
    """figures(**numbers) records this test's figures under its node name."""
    name = request.node.name

    def record(**data):
        _FIGURES.setdefault(name, {}).update(data)
        _report_path.parent.mkdir(parents=True, exist_ok=True)
        _report_path.write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")

    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    tr = terminalreporter
    tr.section("banlog fault figures")
    for name in sorted(_FIGURES):
        fig = ", ".join(f"{k}={v}" for k, v in sorted(_FIGURES[name].items()))
        tr.write_line(f"{name}: {fig}")
    tr.write_line(f"(written to {_REPORT['path']})")
