# The two set-up commands: `make run` and `make test`. Everything they need is installed by this file.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test demo unit e2e soak bench broker clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# Kafka's jars, resolved once from Maven Central with mvn (then cached in .kafka/lib).
.kafka/lib/.resolved: devstack/broker.py | $(STAMP)
	$(PY) -c 'from devstack.broker import ensure_runtime; ensure_runtime()'
	touch $@

run: $(STAMP) .kafka/lib/.resolved
	$(PY) -m devstack

demo: $(STAMP)
	$(PY) -m devstack.demo

# helm for the chart's tests, built from source with the machine's Go (pinned; kept in .tools/).
HELM_VERSION := v3.22.0
HELM := .tools/helm
$(HELM):
	GOBIN=$(CURDIR)/.tools CGO_ENABLED=0 go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

test: $(STAMP) .kafka/lib/.resolved $(HELM)
	$(PY) -m mypy
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

e2e: $(STAMP) .kafka/lib/.resolved
	$(PY) -m pytest tests/e2e

# The benchmark (issue 7): every stage beside its baseline, a table, bench/results/<date>.json and .png.
# QUICK=1: short runs that check every stage works (make test runs it as a smoke test).
bench: $(STAMP) .kafka/lib/.resolved
	$(PY) -m bench $(if $(QUICK),--quick,)

# Bounded chaos soak (default 20 minutes; SOAK_MINUTES=5 make soak for a short one).
SOAK_MINUTES ?= 20
soak: $(STAMP) .kafka/lib/.resolved
	$(PY) -m devstack.soak --minutes $(SOAK_MINUTES)

broker: $(STAMP) .kafka/lib/.resolved
	$(PY) -m devstack.broker

clean:
	rm -rf $(VENV) .kafka .run
