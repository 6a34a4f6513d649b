# meshcert Makefile. `make help` lists the targets.
#
# Tool binaries are built from the Go module proxy into a cache outside the
# repository, keyed by version, so a rerun on the same machine takes seconds.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MESHCERT_CACHE ?= $(HOME)/.cache/meshcert
BIN_DIR        ?= $(CURDIR)/bin
FUZZTIME       ?= 30s
GO             ?= go

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT         := $(MESHCERT_CACHE)/golangci-lint/$(GOLANGCI_LINT_VERSION)/golangci-lint

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/meshcert/meshcert/cmd/meshcert/app.version=$(VERSION)

# Fuzz targets as package:FuzzName; `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS := \
	./manifest:FuzzDecode \
	./certs:FuzzCredentialName \
	./certs:FuzzPlanGateway \
	./istiooperator:FuzzCheck \
	./certs:FuzzDNSValidators

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/meshcert.
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/meshcert ./cmd/meshcert

.PHONY: test
test: vet unit e2e ## Run every test: vet, unit, integration and end-to-end.

.PHONY: unit
unit: ## Run the unit tests of the product module.
	$(GO) test -count=1 ./...

.PHONY: vet
vet: ## go vet every module.
	$(GO) vet ./...

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (installed from the module proxy) on every module.
	$(GOLANGCI_LINT) run ./...
	@for m in $$(find e2e -name go.mod -not -path '*/tools/*' -exec dirname {} \;); do \
		echo "golangci-lint in $$m"; (cd $$m && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yaml ./...); done

$(GOLANGCI_LINT):
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 30s) each.
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

.PHONY: bench
bench: ## Run the planner, IstioOperator and manifest benchmarks.
	$(GO) test -run '^$$' -bench . -benchmem ./certs/... ./istiooperator/... ./manifest/...

.PHONY: golden
golden: ## Regenerate the inject golden files and docs/findings.md.
	UPDATE_GOLDEN=1 $(GO) test ./cmd/meshcert/... ./certs/... -run Golden

# The local control plane, the e2e tests and the demo.
include e2e/e2e.mk
