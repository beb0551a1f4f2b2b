# banlog: `make` builds, `make test` runs every test, `make demo` shows it working.
# Each of them installs the missing Debian packages it needs first (as root; scripts/deps/<purpose>.txt),
# so a fresh machine needs nothing else; `make install` installs only what building needs.

# ext-php-rs finds PHP through `php` and `php-config` on PATH (or $PHP / $PHP_CONFIG, full paths).
PHP_CONFIG ?= php-config8.2
PYTHON     ?= /usr/bin/python3
CARGO      ?= cargo
EXT_SO     := target/release/libbanlog.so
SIDECAR    := target/release/banlog

.PHONY: all build compile deps deps-test deps-demo deps-bench test lint test-rust test-integration \
	install install-ext dist deps-dist demo bench bench-smoke clean rules-php

all: build

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh build test dist
deps-demo:
	@scripts/deps.sh build demo
deps-bench:
	@scripts/deps.sh build bench
deps-dist:
	@scripts/deps.sh build dist

build: deps compile

compile:
	$(CARGO) build --release --workspace

# Every test: the gates (format, lints), Rust unit tests, then the integration suite against real PHP,
# rsyslog, fail2ban, WordPress and Chromium.
test: deps-test compile lint test-rust test-integration

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --release --workspace

# The plugin's copy of the settings rules, generated from core/src/rules.rs (a test fails while it is stale).
rules-php:
	$(CARGO) run -q --release -p banlog-core --example render_php_rules > wp-plugin/banlog/includes/class-banlog-rules.php

test-integration:
	BANLOG_EXT=$(CURDIR)/$(EXT_SO) BANLOG_SIDECAR=$(CURDIR)/$(SIDECAR) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests $(PYTEST_ARGS)

# The extension into this machine's PHP (Debian layout: mods-available + phpenmod).
install: install-ext

install-ext: build
	install -D -m 0644 $(EXT_SO) $(DESTDIR)$$($(PHP_CONFIG) --extension-dir)/banlog.so
	@if [ -d /etc/php/8.2/mods-available ]; then \
	  install -D -m 0644 php-ext/banlog.ini $(DESTDIR)/etc/php/8.2/mods-available/banlog.ini; \
	  if [ -z "$(DESTDIR)" ] && command -v phpenmod >/dev/null; then phpenmod -v 8.2 banlog; fi; \
	  echo "banlog: enabled for PHP 8.2 (restart php8.2-fpm / apache2 to load it)"; \
	else \
	  echo "banlog: add 'extension=banlog' to your php.ini"; \
	fi

# What a server installs, into dist/: php8.2-banlog_<version>_<arch>.deb (the extension, enabled with
# phpenmod on install), banlog_<version>_<arch>.deb (the command and the fail2ban files) and
# banlog-plugin-<version>.zip (for wp-admin's "Upload Plugin"). `apt-get install ./dist/*.deb` installs both.
dist: deps-dist compile
	scripts/dist.sh dist

# Benchmarks (bench/run.py; see BENCHMARKS.md): a table, bench/results.json, bench/chart.svg.
# Run as root on a quiet machine; `make bench-smoke` runs every part in tiny sizes (no timing value).
# `build` builds the whole workspace, bench/writer (the writer-throughput program) included.
bench: deps-bench compile
	BANLOG_EXT=$(CURDIR)/$(EXT_SO) $(PYTHON) bench/run.py $(BENCH_ARGS)

bench-smoke: deps-bench compile
	BANLOG_EXT=$(CURDIR)/$(EXT_SO) $(PYTHON) bench/run.py --smoke $(BENCH_ARGS)

clean:
	$(CARGO) clean

# A real WordPress with the plugin and the extension, a spam bot, a password guesser, fail2ban banning both.
# DEMO_ARGS=--no-wait tears down at the end instead of waiting for Ctrl-C.
demo: deps-demo compile
	BANLOG_EXT=$(CURDIR)/$(EXT_SO) $(PYTHON) tests/wp/demo.py $(DEMO_ARGS)
