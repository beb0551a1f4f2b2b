"""The plugin's translation template is generated from the code (scripts/make-pot.sh, Debian's
xgettext) and must hold every translatable string the code has today."""
import subprocess

from support.paths import ROOT

POT = ROOT / "wp-plugin/banlog/languages/banlog.pot"


def test_pot_is_current():
    fresh = subprocess.run([ROOT / "scripts/make-pot.sh", "-"], check=True, capture_output=True, text=True,
                           timeout=60)
    assert fresh.stderr == ""
    assert POT.read_text() == fresh.stdout, "banlog.pot is stale: run scripts/make-pot.sh"


def test_pot_compiles_and_has_the_plugin_strings():
    p = subprocess.run(["msgfmt", "--check", "--output-file=/dev/null", POT], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = POT.read_text()
    assert 'msgid "Spam log file"' in text and '"Project-Id-Version: banlog ' in text
