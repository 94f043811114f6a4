# Two commands for a newcomer:
#   make run    set up, index the sample corpus, and serve the app on http://127.0.0.1:7071
#               (DOCUMENTS_WATCH=true make run also keeps the index in step with DOCUMENTS_DIR,
#               .data/documents by default: see docs/documents.md)
#   make test   set up and run the whole test suite, the host-load check included
#               (needs Node.js/npm: the tests start Azurite and a Cosmos DB emulator)
#   make check  the fast inner loop: lint, the type checker and tests/unit (no emulator, Node,
#               server process or compiled model: it does not build llama.cpp)
#
# llama.cpp (llama-cpp-python ships as source) is compiled for a portable CPU target (x86-64-v3
# or ARMv8.2-A, never the build machine's own): ~5 minutes on 2 cores, once; the wheel is kept
# under ~/.cache/rag-chat-backend. `make run` does not wait for it: the default answers are
# extractive and need no model, so it builds in the background (.data/llama-build.log) while the
# server answers; `make llama` builds it in the foreground; `make test` needs it.

PYTHON ?= python3
# The Functions worker's indexing code (azure-functions-runtime) needs Python 3.13.
PYTHON313 ?= $(firstword $(shell PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep '^3\.13' | tail -1) pyenv which python3.13 2>/dev/null) $(shell command -v python3.13))
VENV := .venv
HOSTLOAD_VENV := .venv313
IAC_VENV := .venv-iac
HOST ?= 127.0.0.1
PORT ?= 7071

.PHONY: run test check ingest lint llama llama-background hostload-venv assets browser clean

run: $(VENV)/.local assets ingest llama-background
	$(VENV)/bin/python -m devtools.local_server --host $(HOST) --port $(PORT)

ingest: $(VENV)/.local
	$(VENV)/bin/python -m devtools.ingest samples/corpus

test: $(VENV)/.installed $(HOSTLOAD_VENV)/.installed $(IAC_VENV)/.installed node_modules/.installed assets browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m mypy
	HOSTLOAD_PYTHON=$(CURDIR)/$(HOSTLOAD_VENV)/bin/python IAC_PYTHON=$(CURDIR)/$(IAC_VENV)/bin/python \
		$(VENV)/bin/python -m pytest

# The fast inner loop: lint, the type checker and the unit tier (tests/unit/: no emulator, Node,
# server process or compiled model; tests/unit/conftest.py fails a test that starts a process).
# Both check and test run mypy on shared/ and function_app.py: its default strictness without
# strict optional checking, zero errors (the settings and the reason are in pyproject.toml).
check: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m mypy
	$(VENV)/bin/python -m pytest -q tests/unit

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python\[server\]==//p' requirements-llama.txt)

# What the server and the default answers need (no compiler involved).
$(VENV)/.local: requirements.txt requirements-local.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-local.txt
	touch $@

# The embedded model's runtime. flock: a foreground build waits for a background one, then
# finds its wheel in the cache instead of compiling a second time.
llama: $(VENV)/.llama
$(VENV)/.llama: $(VENV)/.local requirements-llama.txt scripts/install-llama-cpp.sh
	flock $(VENV)/.llama.lock scripts/install-llama-cpp.sh $(VENV)/bin/pip $(LLAMA_CPP_VERSION)
	$(VENV)/bin/pip install --quiet -r requirements-llama.txt
	touch $@

# make run's: the build, detached, unless it is done. The server picks the model up when it lands.
llama-background: $(VENV)/.local
	@if [ ! -f $(VENV)/.llama ]; then mkdir -p .data; \
		echo "llama.cpp: building in the background (log: .data/llama-build.log); extractive answers work meanwhile"; \
		nohup $(MAKE) --no-print-directory $(VENV)/.llama > .data/llama-build.log 2>&1 & fi

# The test tools, on what the server needs (no compiled model: make check needs only this).
# ranx (the evaluation's retrieval metrics) imports matplotlib, whose first import lists the
# system's fonts with fc-list (a process) and caches the list: done here, not inside a unit test.
$(VENV)/.dev: $(VENV)/.local requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/python -c "import matplotlib.font_manager"
	touch $@

# Everything: the app, its model runtime and the test tools.
$(VENV)/.installed: $(VENV)/.llama $(VENV)/.dev
	touch $@

# Local stand-ins for Azure services that the tests start themselves: Azurite (Blob Storage)
# and @vercel/cosmosdb-server (Cosmos DB, launched through tests/cosmos_emulator.js).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# The pages' third-party assets (Swagger UI, from npm) in static/vendor/, which is deployed.
assets: static/vendor/VERSION

static/vendor/VERSION: node_modules/.installed scripts/build_assets.py
	$(PYTHON) scripts/build_assets.py

# The browser the playground's test drives: Debian's chromium (test tools cannot download one).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; } || \
		{ echo "install chromium (apt-get install chromium) or set CHROMIUM=..."; exit 1; }

# A separate Python 3.13 environment with what the Azure deployment installs, plus the worker
# (azure-functions-runtime) and, for the test host (tests/functions_host), the protobuf
# compiler that builds the host's messages from the worker protocol.
WORKER_PACKAGES := azure-functions-runtime==1.3.0 grpcio-tools==1.85.4 protobuf==7.36.2
$(HOSTLOAD_VENV)/.installed: requirements.txt Makefile
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is needed for the host-load check (set PYTHON313=...)"; exit 1; }
	test -d $(HOSTLOAD_VENV) || $(PYTHON313) -m venv $(HOSTLOAD_VENV)
	$(HOSTLOAD_VENV)/bin/pip install --quiet --upgrade pip
	$(HOSTLOAD_VENV)/bin/pip install --quiet -r requirements.txt $(WORKER_PACKAGES)
	touch $@

# checkov and pycep (the Bicep parser inside it) lint infra/: their own environment, as checkov
# pins many packages exactly. The tests find it through IAC_PYTHON.
$(IAC_VENV)/.installed: requirements-iac.txt
	test -d $(IAC_VENV) || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/pip install --quiet --upgrade pip
	$(IAC_VENV)/bin/pip install --quiet -r requirements-iac.txt
	touch $@

clean:
	rm -rf $(VENV) $(HOSTLOAD_VENV) $(IAC_VENV) .data node_modules static/vendor
