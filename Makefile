# Two commands: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench setup browser db nlp clean

run: setup db nlp
	$(BIN)/deskbot serve

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Headless Chromium for the console's browser tests, from Debian, only when it is missing.
browser:
	command -v chromium >/dev/null || apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

# The benchmarks that need nothing beyond the repository print their tables (minutes each; the ticket API one
# seeds 100,000 tickets on SQLite and PostgreSQL). The CLINC150 ones (bench/embeddings.py, bench/nlp_clinc150.py)
# need that data set beside the checkout. Not part of `make test`.
bench: setup db nlp
	$(BIN)/python bench/email_ingest.py
	$(BIN)/python bench/kb_retrieval.py
	$(BIN)/python bench/intent_oos.py
	$(BIN)/python bench/api_tickets.py --database both
	$(BIN)/python bench/decisions.py
	$(BIN)/python bench/console_pages.py
	$(BIN)/python bench/major_incidents.py --old-rule
	$(BIN)/python bench/e2e.py

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

db: setup
	$(BIN)/deskbot db upgrade

# The KB seed into the desk (an unchanged file changes nothing), its index (incremental) and, on a new machine,
# a first intent model from the packaged data.
nlp: setup db
	$(BIN)/deskbot kb import
	$(BIN)/deskbot kb reindex
	$(BIN)/deskbot nlp train --if-missing

clean:
	rm -rf $(VENV) var/*.db var/*.db-* .pytest_cache
