# cmtracker entry points. `make` alone lists them.
#   make run    the whole app on a fresh machine: SQLite, filesystem Celery broker, demo data,
#               worker + beat + dev server on http://127.0.0.1:8000
#   make test   lint, then the tests: on PostgreSQL/Redis when they answer on 127.0.0.1, else SQLite
#               (pass pytest options with PYTEST_ARGS="-k engine -x")
#   make test-dates   the date-sensitive tests again with the clock moved to several instants

SHELL := /bin/bash
# -e: a failing step stops the recipe, so `make test` never reports success after a lint error.
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
PYTHON := $(VENV)/bin/python
PIP_INSTALL := $(PYTHON) -m pip install --quiet --disable-pip-version-check
RUFF := $(VENV)/bin/ruff
CELERY := $(VENV)/bin/celery
MANAGE := $(PYTHON) manage.py

# Stamps live inside .venv, so deleting the venv also forgets what was installed in it.
RUN_STAMP := $(VENV)/.stamp-requirements
DEV_STAMP := $(VENV)/.stamp-requirements-dev

PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2

# The embedded broker's folders (kombu filesystem://) are created by cmtracker/settings.py. Beat
# keeps its schedule in the database (django-celery-beat), so administrators see it in the admin.

.PHONY: help venv install install-dev run test test-dates fuzz mutation lint format clean distclean browser messages translations scan screenshots bench-reports

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(PYTHON) ## create .venv if it is missing

$(PYTHON):
	python3 -m venv $(VENV)

install: $(RUN_STAMP) ## install runtime dependencies (again only when requirements.txt changes)

install-dev: $(DEV_STAMP) ## install runtime + test/lint dependencies

$(RUN_STAMP): requirements.txt | $(PYTHON)
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

# requirements-dev.txt includes requirements.txt, so this also satisfies the runtime stamp.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PYTHON)
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@ $(RUN_STAMP)

run: install messages ## migrate, load demo data, run Celery worker + beat and the dev server on :8000
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) demo_data
	@mkdir -p var/log
	@# Worker and beat live only as long as the dev server: the EXIT trap stops them however it ends
	@# (Ctrl-C, crash, port already in use). One solo-pool worker with nothing to gossip with is
	@# plenty for one developer and keeps the machine quiet.
	@$(CELERY) -A cmtracker worker --pool=solo --without-gossip --without-mingle --without-heartbeat \
	    --loglevel=info --logfile=var/log/celery-worker.log & worker=$$!; \
	 $(CELERY) -A cmtracker beat --loglevel=info --logfile=var/log/celery-beat.log & beat=$$!; \
	 trap 'kill $$worker $$beat 2>/dev/null || true; wait $$worker $$beat 2>/dev/null || true' EXIT; \
	 trap 'exit 130' INT TERM; \
	 echo "Celery worker and beat running (logs in var/log/). Ctrl-C stops everything."; \
	 $(MANAGE) runserver 127.0.0.1:8000

test: install-dev browser messages ## lint, then pytest on 2 xdist workers (PYTEST_ARGS="...")
	@# services.py prints export/unset lines for DATABASE_URL and REDIS_URL, and fails under CI=true
	@# when PostgreSQL or Redis is missing; the assignment makes that failure stop the recipe.
	@services="$$($(PYTHON) scripts/services.py)"; \
	 eval "$$services"; \
	 $(RUFF) check .; \
	 $(RUFF) format --check .; \
	 $(PYTHON) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Tests again with the clock moved (CMTRACKER_TEST_NOW, read by tests/conftest.py) to instants that
# break code reading the wall clock: a Tuesday morning, a Thursday after closing (days off and on
# the clinic's Mon/Wed/Fri), a Sunday, the last half hour of a year (already next year in UTC),
# both DST changes of America/Los_Angeles (the fixtures' clinics are in Chicago and Los Angeles)
# and a leap day. DATE_TESTS are the unit and service tests that read "today" (schedules,
# reminders, misses, Today, the portal, year caps, lab times, sessions and codes): ~570 tests,
# ~30 s an instant on 2 cores, so CI's seven runs add ~3.5 minutes; the engine, permission,
# property and concurrency tests use fixed dates. The browser tests are left out (Chromium runs on
# its own clock), and so are tests with real worker processes (`slow`: a worker is another process,
# which does not see the moved clock). Widen with `make test-dates DATE_TESTS="tests/vouchers"`.
TEST_INSTANTS ?= 2027-01-12T08:05:00-06:00 2026-12-10T17:20:00-06:00 2026-12-06T12:00:00-06:00 \
    2026-12-31T23:30:00-06:00 2027-03-14T01:45:00-08:00 2026-11-01T01:30:00-07:00 \
    2028-02-29T12:00:00-06:00
DATE_TESTS ?= $(addprefix tests/vouchers/test_,$(addsuffix .py,schedule reminders \
        reminder_time_zones missed_tests portal views_record views_schedule views_patient \
        notices reward_summary settlement cm_simulate charts \
        bad_input late_results next_negative_promise)) \
    tests/vouchers/labs/test_importer.py tests/vouchers/labs/test_jobs.py \
    $(addprefix tests/rewards/test_,$(addsuffix .py,today_low_stock prizes)) \
    $(addprefix tests/cmtracker/test_,$(addsuffix .py,audit sessions two_factor)) \
    $(addprefix tests/messaging/test_,$(addsuffix .py,notifications notifications_page)) \
    $(addprefix tests/api/test_,$(addsuffix .py,specimens patients attendance auth_token))
# Query budgets count queries, not days, and take seconds each.
DATE_TESTS_ARGS ?= -m "not slow" -k "not queries"
test-dates: install-dev messages ## the tests with the clock moved to each of TEST_INSTANTS
	@services="$$($(PYTHON) scripts/services.py)"; \
	 eval "$$services"; \
	 failed=""; \
	 for instant in $(TEST_INSTANTS); do \
	     echo "== make test-dates: the clock at $$instant"; \
	     CMTRACKER_TEST_NOW=$$instant $(PYTHON) -m pytest -q -n $(PYTEST_WORKERS) \
	         $(DATE_TESTS) $(DATE_TESTS_ARGS) $(PYTEST_ARGS) || failed="$$failed $$instant"; \
	 done; \
	 if [ -n "$$failed" ]; then echo "make test-dates: failures with the clock at$$failed"; exit 1; fi

# Schemathesis over every API operation as each persona, with a bigger budget than `make test`
# and a fresh random seed each run. Needs PostgreSQL (the module skips without it, or fails under
# CI=true); FUZZ_EXAMPLES=200 for a longer run.
FUZZ_EXAMPLES ?= 50
fuzz: install-dev ## schemathesis against the API schema, as each persona (FUZZ_EXAMPLES=50)
	@services="$$($(PYTHON) scripts/services.py)"; \
	 eval "$$services"; \
	 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest -n $(PYTEST_WORKERS) tests/fuzz $(PYTEST_ARGS)

# Mutation testing of vouchers/engine.py with its own tests ([tool.mutmut] in pyproject.toml), from
# scratch each time; prints each verdict's count. mutmut lives in requirements-mutation.txt, so
# `make test` never installs it. Takes tens of minutes; docs/testing.md has the last score.
MUTATION_STAMP := $(VENV)/.stamp-requirements-mutation

$(MUTATION_STAMP): requirements-mutation.txt $(DEV_STAMP)
	$(PIP_INSTALL) -r requirements-mutation.txt
	@touch $@

mutation: $(MUTATION_STAMP) ## mutation testing of the earning engine (mutmut; slow, not in CI)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(PYTEST_WORKERS)
	@$(VENV)/bin/mutmut results --all true | awk -F': ' 'NF == 2 {n[$$2]++; all++} \
	  END {for (v in n) printf "  %-12s %d\n", v, n[v]; printf "  %-12s %d\n", "mutants", all}'

# The reports on 10,000 enrollments and 500,000 results (issue 14): needs PostgreSQL and the clinic
# `manage.py report_scale_data` loads once (a few minutes) into BENCH_DATABASE_URL; prints the
# medians and writes them to docs/performance.md ("Reports at scale").
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cm_scale
bench-reports: install ## time clinic_measures and the report pages on the scale clinic (PostgreSQL)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(MANAGE) migrate --noinput --verbosity 0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(MANAGE) report_scale_data --if-missing
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PYTHON) benchmarks/reports.py

screenshots: install-dev browser messages ## retake the README's screenshots (docs/screenshots/) with the browser tests
	@services="$$($(PYTHON) scripts/services.py)"; \
	 eval "$$services"; \
	 SCREENSHOTS_DIR=docs/screenshots $(PYTHON) -m pytest tests/e2e $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium, never a downloaded browser. Installed with apt when
# missing and we may (root); otherwise the browser tests skip, saying why (and fail under CI=true).
browser: ## install Debian's chromium for the browser tests when it is missing
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	 fi

# Compiled translations (.mo) are built, not committed; msgfmt comes from GNU gettext.
messages: install ## compile the translations in locale/
	@if command -v msgfmt >/dev/null; then \
	    $(MANAGE) compilemessages --ignore=.venv --verbosity 0; \
	 else echo "msgfmt (GNU gettext) is missing: pages will be in English only"; fi

translations: install ## extract new strings into locale/es/LC_MESSAGES/django.po to translate
	$(MANAGE) makemessages -l es --no-obsolete --ignore=.venv --ignore=tests --ignore=scripts \
	    --ignore=staticfiles --ignore=var

# Security scans (slow; the dependency audit needs the network): bandit, pip-audit and wapiti
# against the running demo app as a patient and a counselor. Tools in .venv-scan, reports in
# var/scan/; what they found and what was decided is in docs/security.md. Not part of `make test`.
scan: install ## security scans: bandit, dependency audit, wapiti on the running app (slow)
	$(PYTHON) scripts/scan.py

lint: install-dev ## ruff check + ruff format --check (changes nothing)
	$(RUFF) check .
	$(RUFF) format --check .

format: install-dev ## ruff format, then ruff check --fix
	$(RUFF) format .
	$(RUFF) check --fix .

clean: ## remove caches, collected static files and Celery state (keeps .venv and db.sqlite3)
	rm -rf var/ staticfiles/ .pytest_cache/ .ruff_cache/ .hypothesis/ mutants/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## clean, and also remove .venv and the local SQLite database
	rm -rf $(VENV) db.sqlite3
