# ragchat: `make run` sets up and serves the app on the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PORT ?= 127.0.0.1:8000
SQLITE_URL := sqlite:///$(CURDIR)/db.sqlite3
MARIADB_URL ?= mysql://root@127.0.0.1:3306/ragchat

.PHONY: run setup dev test test-sqlite test-mysql lint bench clean

$(BIN)/.runtime: requirements.txt
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	scripts/system-deps.sh --test
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(BIN)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createadmin
	$(BIN)/python manage.py ingest samples/

run: setup
	$(BIN)/python manage.py runserver $(HOST_PORT)

dev: $(BIN)/.dev

# The whole suite, on SQLite and then on MariaDB; both must pass.
test: test-sqlite test-mysql

test-sqlite: dev
	DATABASE_URL=$(SQLITE_URL) $(BIN)/pytest

test-mysql: dev
	scripts/mariadb-up.sh
	DATABASE_URL=$(MARIADB_URL) $(BIN)/pytest

lint: dev
	$(BIN)/ruff check .

bench: dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/index_memory.py
	$(BIN)/python bench/retrieval_quality.py

clean:
	rm -rf $(VENV) db.sqlite3* .pytest_cache
