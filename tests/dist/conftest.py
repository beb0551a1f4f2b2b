"""The packages `make dist` builds (scripts/dist.sh), once for the suite."""
import subprocess

import pytest

from support.paths import ROOT


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([ROOT / "scripts/dist.sh", out], check=True, capture_output=True, text=True, timeout=300)
    return out
