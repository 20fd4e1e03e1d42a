# The two set-up commands: `make run` and `make test`. Everything they need is installed by this file.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test demo unit e2e soak bench broker compose-env clean lock image

# The tests run on the versions the image ships: requirements-dev.lock pins every dependency, the tools' too, and
# requirements.lock (the image's, with hashes) was resolved within it.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements-dev.lock -e '.[test,bench]'
	touch $(STAMP)

# After changing pyproject.toml's dependencies: every dependency pinned again, then the image's with their hashes.
# pip-tools runs from a virtual environment of its own: the project's may not install until the pins are new.
LOCKER := .tools/lock
LOCK := $(LOCKER)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock:
	$(PYTHON) -m venv $(LOCKER)
	$(LOCKER)/bin/pip install --quiet 'pip-tools>=7.4,<8'
	$(LOCK) --extra test --extra bench --output-file requirements-dev.lock pyproject.toml
	$(LOCK) --generate-hashes --build-deps-for wheel --constraint requirements-dev.lock \
	    --output-file requirements.lock pyproject.toml

# Both images (Dockerfile), labelled with pyproject.toml's version and the commit; needs a Docker engine.
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
	    -t lec-connector:$(VERSION) .
	docker build --target sandbox --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
	    -t lec-connector-sandbox:$(VERSION) .

# Kafka's jars, resolved once from Maven Central with mvn (then cached in .kafka/lib).
.kafka/lib/.resolved: devstack/broker.py | $(STAMP)
	$(PY) -c 'from devstack.broker import ensure_runtime; ensure_runtime()'
	touch $@

# Prometheus and promtool from Debian's package, unpacked into .tools/prometheus (no daemon, nothing system-wide).
PROMETHEUS := .tools/prometheus/usr/bin/prometheus
$(PROMETHEUS): | $(STAMP)
	$(PY) -c 'from devstack.prometheus import ensure_installed; ensure_installed()'

# make run starts Prometheus too when it can be had; without it the connector runs all the same.
run: $(STAMP) .kafka/lib/.resolved
	@$(MAKE) --no-print-directory $(PROMETHEUS) || echo "(Prometheus could not be unpacked: running without it)"
	$(PY) -m devstack

demo: $(STAMP)
	$(PY) -m devstack.demo

# Apicurio Registry, the Schema Registry of the tests and of `LEC_WIRE_FORMAT=registry make run`: built once with
# mvn from Maven Central (a Quarkus build, about a minute) into .registry/quarkus-app.
REGISTRY := .registry/quarkus-app/quarkus-run.jar
$(REGISTRY): | $(STAMP)
	$(PY) -c 'from devstack.schema_registry import ensure_built; ensure_built()'

# helm for the chart's tests, built from source with the machine's Go (pinned; kept in .tools/).
HELM_VERSION := v3.22.0
HELM := .tools/helm
$(HELM):
	GOBIN=$(CURDIR)/.tools CGO_ENABLED=0 go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# docker-compose.yml's checker: the Compose Specification's own Go loader and schema (compose-go, pinned in go.mod).
COMPOSECHECK := .tools/composecheck
$(COMPOSECHECK): tests/deploy/composecheck/main.go tests/deploy/composecheck/go.mod
	cd tests/deploy/composecheck && CGO_ENABLED=0 go build -o $(CURDIR)/$@ .

# Debian's Chromium for the console's browser tests (Playwright drives it and downloads no browser of its own).
CHROMIUM := .tools/.chromium
$(CHROMIUM):
	command -v chromium >/dev/null || apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)
	mkdir -p .tools && touch $@

# docker-compose.yml reads its sandbox credentials from .env: fresh ones on every call.
compose-env: $(STAMP)
	$(PY) -m devstack.compose_env > .env

test: $(STAMP) .kafka/lib/.resolved $(REGISTRY) $(HELM) $(PROMETHEUS) $(COMPOSECHECK) $(CHROMIUM)
	$(PY) -m mypy
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

e2e: $(STAMP) .kafka/lib/.resolved $(REGISTRY)
	$(PY) -m pytest tests/e2e

# The benchmark (issue 7): every stage beside its baseline, a table, bench/results/<date>.json and .png.
# QUICK=1: short runs that check every stage works (make test runs it as a smoke test).
bench: $(STAMP) .kafka/lib/.resolved
	$(PY) -m bench $(if $(QUICK),--quick,)

# Bounded chaos soak (default 20 minutes; SOAK_MINUTES=5 make soak for a short one).
SOAK_MINUTES ?= 20
# With Prometheus, it also draws the run's dashboard (DASHBOARD=path.png, else in the run's folder).
soak: $(STAMP) .kafka/lib/.resolved
	@$(MAKE) --no-print-directory $(PROMETHEUS) || echo "(Prometheus could not be unpacked: no dashboard)"
	$(PY) -m devstack.soak --minutes $(SOAK_MINUTES) $(if $(DASHBOARD),--dashboard $(DASHBOARD),)

broker: $(STAMP) .kafka/lib/.resolved
	$(PY) -m devstack.broker

clean:
	rm -rf $(VENV) .kafka .run
