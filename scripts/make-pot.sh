#!/usr/bin/env bash
# Writes the plugin's translation template, wp-plugin/banlog/languages/banlog.pot, from the code with
# Debian's xgettext and WordPress's gettext functions. tests/wp/test_pot.py fails when it is stale.
#   scripts/make-pot.sh          rewrite the file
#   scripts/make-pot.sh -        print it instead
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin="$root/wp-plugin/banlog"
version=$(sed -n 's/^ \* Version: *//p' "$plugin/banlog.php")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(cd "$plugin" && find . -name '*.php' -printf '%P\n' | LC_ALL=C sort) |
  (cd "$plugin" && xgettext --from-code=UTF-8 --language=PHP --files-from=- --output=- \
    --package-name=banlog --package-version="$version" --msgid-bugs-address=banlog@example.invalid \
    --add-comments=translators: --add-location=file --sort-by-file \
    --keyword=__ --keyword=_e --keyword=esc_html__ --keyword=esc_html_e --keyword=esc_attr__ \
    --keyword=esc_attr_e --keyword=_x:1,2c --keyword=_ex:1,2c --keyword=esc_html_x:1,2c \
    --keyword=esc_attr_x:1,2c --keyword=_n:1,2 --keyword=_nx:1,2,4c --keyword=_n_noop:1,2 \
    --keyword=_nx_noop:1,2,3c) |
  # No creation date: the file changes only when a string does.
  sed -e '/^"POT-Creation-Date:/d' -e '1s/.*/# Translation template of the banlog WordPress plugin./' \
    -e "/^# Copyright (C) YEAR/d" -e '/^# FIRST AUTHOR/d' -e 's/^"Content-Type: text\/plain; charset=CHARSET\\n"$/"Content-Type: text\/plain; charset=UTF-8\\n"/' >"$out"
if [ "${1:-}" = - ]; then
  cat "$out"
else
  install -m 0644 "$out" "$plugin/languages/banlog.pot"
  echo "wrote $plugin/languages/banlog.pot ($(grep -c '^msgid "' "$out") strings)"
fi
