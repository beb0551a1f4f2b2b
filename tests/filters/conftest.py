"""Fixtures for the filter and sidecar tests."""
import shutil
import sys
import pathlib

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from f2bhelp import FILTERS, copy_fail2ban  # noqa: E402


@pytest.fixture(scope="session")
def f2b_conf(tmp_path_factory):
    """fail2ban's configuration with the filters from this tree (not from the binary) in filter.d."""
    conf = copy_fail2ban(tmp_path_factory.mktemp("f2b") / "fail2ban")
    for f in (FILTERS / "filter.d").glob("*.conf"):
        shutil.copy(f, conf / "filter.d" / f.name)
    return conf
