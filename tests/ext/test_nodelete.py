"""The extension stays loaded once loaded: PHP's dlclose at module shutdown must not unmap it,
because Apache's graceful restart runs module start-up again in the same process and the pool's
shared mapping lives in the library's statics (php-ext/build.rs; the behaviour itself under
Apache: tests/faults/test_apache_lifecycle.py)."""
import subprocess


def test_extension_is_linked_nodelete(ext_path):
    dyn = subprocess.run(["readelf", "-d", ext_path], check=True, capture_output=True, text=True).stdout
    flags = [l for l in dyn.splitlines() if "(FLAGS_1)" in l]
    assert flags and "NODELETE" in flags[0].split(), dyn
