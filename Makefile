# PulseStream developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every Go module of the workspace (go.work); each also builds alone (GOWORK=off).
MODULES := platform schemas migrations tenancy testkit services/gateway services/projector services/query deploy tools/loadgen clients/go tests
PKGS := $(addprefix ./,$(addsuffix /...,$(MODULES)))
ENV := source scripts/env.sh &&
GO_TEST_FLAGS ?= -count=1 -timeout 25m
FUZZ_EXECS ?= 20000x
FUZZTIME ?= 2m

.PHONY: console-screenshots kafka-cluster help dev test test-deploy test-unit test-integration lint stop clean infra migrate build vet-modules fuzz-short fuzz fuzz-api soak images bench bench-client bench-console

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n", $$1, $$2}'

infra: ## install what is missing and start PostgreSQL, Redis, Kafka and the ClickHouse engine on loopback
	@bash scripts/infra.sh up

kafka-cluster: ## start a replicated 3-node Kafka on loopback (RF 3, min.insync.replicas=2; scripts/kafka-cluster.sh, ports in env.sh); make dev stays on one broker
	@bash scripts/kafka-cluster.sh start

stop: ## stop everything `make dev` / `make test` / `make kafka-cluster` started
	@bash scripts/dev.sh stop 2>/dev/null || true
	@bash scripts/kafka-cluster.sh stop
	@bash scripts/infra.sh down

clean: ## stop everything and remove all local state: .local (data, logs, tools), bin/, and PostgreSQL data kept outside a private checkout
	@bash scripts/dev.sh stop 2>/dev/null || true
	@bash scripts/kafka-cluster.sh stop
	@bash scripts/infra.sh clean
	@rm -rf .local bin

migrate: infra ## apply PostgreSQL and ClickHouse migrations (idempotent) and print the versions
	@$(ENV) go run ./migrations/cmd/migrate up

build: ## build every service binary into bin/
	@mkdir -p bin
	@for s in gateway projector query; do go build -o bin/$$s ./services/$$s || exit 1; done
	@go build -o bin/pulsectl ./tenancy/cmd/pulsectl
	@go build -o bin/pulseimport ./clients/go/cmd/pulseimport

IMAGE ?= ghcr.io/pulsestream/pulsestream
IMAGE_TAG ?= dev
images: ## build the image (every program, FROM scratch) with buildah, no Docker and no base image needed; prints its digest (IMAGE, IMAGE_TAG)
	@IMAGE=$(IMAGE) IMAGE_TAG=$(IMAGE_TAG) bash scripts/images.sh

dev: migrate build ## start the whole stack locally (Ctrl-C stops the services; `make stop` the infrastructure)
	@bash scripts/dev.sh run

test: infra ## every test: unit + integration against real PostgreSQL, Redis, Kafka and ClickHouse engine
	@$(MAKE) --no-print-directory lint
	@python3 -m unittest discover -s tools/chdb-server
	@bash scripts/pyvenv.sh
	@bash scripts/chromium.sh
	@$(ENV) go test $(GO_TEST_FLAGS) $(PKGS)
	@$(MAKE) --no-print-directory fuzz-short
	@bash scripts/fuzz-api.sh $(or $(FUZZ_API_EXAMPLES),20)

test-deploy: infra ## build the image and run it with podman; install the chart into a local kube-apiserver (built once, ~5 min)
	@$(ENV) PULSESTREAM_TEST_IMAGE=1 PULSESTREAM_TEST_APISERVER=1 go test -count=1 -timeout 40m -run 'TestImage|TestTopicsHook|TestChartInstallsIntoARealAPIServer' ./deploy/

console-screenshots: infra ## rerun the console's browser test (headless Chromium) and keep its screenshots in docs/console/ (docs/console.md)
	@bash scripts/chromium.sh
	@mkdir -p docs/console
	@$(ENV) PULSESTREAM_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console go test -count=1 -run 'TestConsoleInHeadlessChromium' ./tests/e2e

test-unit: ## unit tests only; needs no services
	@PULSESTREAM_TEST_INTEGRATION=0 go test $(GO_TEST_FLAGS) -short $(PKGS)

vet-modules: ## each module builds and vets on its own (GOWORK=off)
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy -diff && GOWORK=off go build ./... && GOWORK=off go vet ./...) || { echo "module $$m fails alone"; exit 1; }; done

lint: vet-modules ## gofmt, go vet (through vet-modules) and staticcheck on every module
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo 'gofmt: files above need formatting'; exit 1; }
	@go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

fuzz-short: ## run each fuzz target for a count of executions (FUZZ_EXECS, default 20000x): cannot fail without a failing input
	@bash scripts/fuzz.sh $(FUZZ_EXECS)

fuzz: ## run each fuzz target for a while (FUZZTIME, default 2m; FUZZTIME=5m make fuzz)
	@bash scripts/fuzz.sh $(FUZZTIME)

fuzz-api: infra ## property-based API tests of gateway and query from schemas/openapi (Schemathesis from PyPI; FUZZ_API_EXAMPLES, default 50)
	@bash scripts/fuzz-api.sh $(or $(FUZZ_API_EXAMPLES),50)

SOAK_DURATION ?= 10m
soak: infra ## the broker-kill fault test for SOAK_DURATION (default 10m), a SIGKILL every SOAK_KILL_EVERY (default 20s)
	@set -o pipefail; $(ENV) PULSESTREAM_SOAK_DURATION=$(SOAK_DURATION) PULSESTREAM_SOAK_KILL_EVERY=$(or $(SOAK_KILL_EVERY),20s) \
	  go test -count=1 -v -timeout 0 -run 'TestBrokerSIGKILLDuringIngestion' ./services/projector/app/ | grep -E '^(faults:|--- |ok|FAIL|PASS)|kill [0-9]+:|answers by'

BENCH_FLAGS ?=
bench: infra ## benchmark on this machine: raw Kafka, gateway batch/single, projection, end to end; verifies storage; table + bench/results/<date>.json (docs/benchmarks.md)
	@bash bench/run.sh $(BENCH_FLAGS)

CONSOLE_EVENTS ?= 1000000
bench-console: infra ## the console's first paint and first data per page in headless Chromium with CONSOLE_EVENTS events stored (docs/console.md)
	@bash scripts/chromium.sh
	@set -o pipefail; $(ENV) PULSESTREAM_CONSOLE_BENCH_EVENTS=$(CONSOLE_EVENTS) go test -count=1 -v -timeout 30m -run 'TestConsoleFirstPaintBenchmark' ./tests/e2e | grep -E '^(console-bench:|\s*--- |ok|FAIL|PASS)|_test.go'

CLIENT_EVENTS ?= 1000000
IMPORT_LINES ?= 1000000
bench-client: infra ## the Go client alone: its throughput into a gateway of its own (CLIENT_EVENTS) and pulseimport of IMPORT_LINES lines killed half way and resumed (make test: 100,000)
	@set -o pipefail; $(ENV) PULSESTREAM_CLIENT_BENCH_EVENTS=$(CLIENT_EVENTS) PULSESTREAM_IMPORT_LINES=$(IMPORT_LINES) \
	  go test -count=1 -v -timeout 40m -run 'TestClientThroughputIntoGateway|TestClientAndImportOnOneStack/import' ./tests/e2e | grep -E '^(client-bench:|\s*--- |ok|FAIL|PASS)|killed at'
