# awsaudit: every task goes through this Makefile. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/awsaudit/awsaudit/internal/cli.Version=$(VERSION)
FUNCTIONS := enforcer reconciler

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the awsaudit CLI into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/awsaudit ./cmd/awsaudit

RIE_MODULE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d

.PHONY: test
test: tools ## run every test: unit, and integration against moto_server, the Lambda emulator and the ES test server
	$(GO) test -race -count=1 ./...

.PHONY: tools
tools: ## install the Lambda runtime interface emulator the tests use, if missing (moto_server: pip install 'moto[server]')
	@command -v aws-lambda-rie >/dev/null || test -x "$$($(GO) env GOPATH)/bin/aws-lambda-rie" || $(GO) install $(RIE_MODULE)
	@command -v moto_server >/dev/null || echo "make: moto_server not found: the integration tests will skip (pip install 'moto[server]')" >&2

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: package
package: ## build dist/enforcer.zip and dist/reconciler.zip for provided.al2023 on arm64, reproducibly
	./scripts/package.sh $(FUNCTIONS)

.PHONY: demo
demo: ## run the demo against a local moto_server: no AWS account needed
	./scripts/demo.sh

.PHONY: bench
bench: ## measure API calls, CPU, memory, event latency and Lambda start; writes bench/results/
	./scripts/bench.sh

.PHONY: tfcheck
tfcheck: package ## validate terraform/ offline against the hashicorp/aws schema
	../shared/tools/tfcheck/run.sh terraform
	../shared/tools/tfcheck/run.sh terraform/examples/complete

.PHONY: clean
clean: ## remove build outputs
	rm -rf bin dist
