"""Left only for bench/run.py, which imports `harness` from tests/wp while its own split is under way
on another branch: the WordPress stack is tests/support/wordpress.py. Delete this file once
bench/run.py imports support.wordpress."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from support.wordpress import ADMIN_USER, Stack  # noqa: E402,F401
