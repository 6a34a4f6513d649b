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

# Fuzz targets as package:FuzzName; `make fuzz` runs each for FUZZTIME
# (-timeout 0: go test's default 10m would cut a 10-minute run short). Go
# 1.26 can still end a duration-bounded run with a bare "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27); a
# count such as FUZZTIME=3000000x avoids it.
FUZZ_TARGETS := \
	./manifest:FuzzDecode \
	./manifest:FuzzPlainPaths \
	./certs:FuzzCredentialName \
	./certs:FuzzPlanGateway \
	./certs:FuzzResolveCredential \
	./certs:FuzzPathParts \
	./istiooperator:FuzzCheck \
	./istiooperator:FuzzPlanIstioOperator \
	./istiooperator:FuzzCheckRenderedInstall \
	./certs:FuzzParseTrustAnchors \
	./certs:FuzzDNSValidators \
	./certs:FuzzParseNamespacePolicy \
	./webhook:FuzzAdmissionHandlers \
	./webhook:FuzzEncodePatches \
	./webhook:FuzzReviewServer \
	./gatewayapi:FuzzPlanShim \
	./offline:FuzzPlanObjects \
	./meshca:FuzzPlan \
	./report:FuzzWrite

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/meshcert.
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/meshcert ./cmd/meshcert

IMAGE_REPO ?= ghcr.io/meshcert/meshcert
IMAGE_TAG  ?= $(VERSION)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_TAR  ?= $(BIN_DIR)/meshcert-image.tar

.PHONY: image
image: ## Build the container image as a tarball without a container engine, bin/meshcert-image.tar (docker load -i, crane push).
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(BIN_DIR)/linux_$(IMAGE_ARCH)/meshcert ./cmd/meshcert
	cd e2e/tools/image && $(GO) run . -binary $(BIN_DIR)/linux_$(IMAGE_ARCH)/meshcert -arch $(IMAGE_ARCH) \
		-tag $(IMAGE_REPO):$(IMAGE_TAG) -version $(VERSION) -out $(IMAGE_TAR)

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
fuzz: tools ## Run every fuzz target for FUZZTIME (default 30s) each, the Istio differential one included.
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -timeout 0 $$pkg; \
	done
	@echo "fuzz ./e2e FuzzGatewayAgreesWithIstio for $(FUZZTIME)"
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) \
		$(GO) test -run '^$$' -fuzz '^FuzzGatewayAgreesWithIstio$$' -fuzztime $(FUZZTIME) -timeout 0 .

# fuzz-minimize keeps, of each checked-in corpus, the inputs that add
# statement coverage beyond the f.Add seeds (e2e/cmd/fuzzcmin); run it after
# copying a long run's inputs into testdata/fuzz (docs/development.md).
.PHONY: fuzz-minimize
fuzz-minimize: tools ## Keep only the fuzz corpus inputs that add coverage (docs/development.md, "Fuzz corpora").
	@set -e; for t in $(FUZZ_TARGETS); do \
		(cd e2e && $(GO) run ./cmd/fuzzcmin -moddir .. -pkg $${t%%:*} -fuzz $${t##*:}); \
	done
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) $(GO) run ./cmd/fuzzcmin -moddir . -pkg . -fuzz FuzzGatewayAgreesWithIstio

# Mutation testing with gremlins (github.com/go-gremlins/gremlins): each
# mutant is a small change to the code (a flipped comparison, a changed
# operator); a mutant the tests still pass on ("LIVED") marks untested
# behaviour. Scores and what is left alive: docs/development.md.

GREMLINS_VERSION ?= v0.6.0
GREMLINS         := $(MESHCERT_CACHE)/gremlins/$(GREMLINS_VERSION)/gremlins
MUTATE_PKGS      ?= ./certs ./webhook ./controller

# --workers 2: one mutant's `go test` per core (the default is every core
#   anyway; said explicitly because more workers only fight over the CPU).
# --timeout-coefficient 20: gremlins times each mutant out after the
#   coverage run's time times this. That run is usually cached (about 2 s),
#   while each mutant rebuilds and relinks its test binary: 3 s for certs,
#   6-8 s for webhook and controller (they link controller-runtime), more
#   on a busy machine. With the default 3 every controller mutant ends as a
#   false TIMED OUT; 10 gave none, 20 leaves room for a loaded machine.
# --output-statuses lt: list only LIVED and TIMED OUT mutants; the summary
#   (killed, lived, not covered, efficacy, mutator coverage) always prints.
# Integration mode stays off: each mutant runs only its own package's tests.
# Add --threshold-efficacy N to make the target fail below N percent.
GREMLINS_FLAGS ?= --workers 2 --timeout-coefficient 20 --output-statuses lt

# Built once per version from the module proxy; GOFLAGS is cleared so the
# project's settings cannot affect the tool build.
$(GREMLINS):
	GOFLAGS= GOBIN=$(dir $@) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)

# gremlins copies the module to a temporary directory per worker and runs
# `go` from PATH there; the working tree is never modified.
.PHONY: mutate
mutate: $(GREMLINS) ## Mutation-test certs, webhook and controller (about an hour on 2 idle cores).
	@for p in $(MUTATE_PKGS); do \
		echo "== gremlins $$p"; \
		$(GREMLINS) unleash $(GREMLINS_FLAGS) $$p; \
	done

.PHONY: golden
golden: tools ## Regenerate what is generated and checked: inject goldens, docs/findings.md, the reference tables of docs/ (flags, metrics, annotations), the chart's webhook/RBAC templates and values table, deploy/meshcert.yaml.
	UPDATE_GOLDEN=1 $(GO) test ./cmd/meshcert/... ./certs/... ./report/... -run 'Golden|TablesAreCurrent'
	UPDATE_GOLDEN=1 $(GO) test ./internal/chart/... ./internal/reference/...
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) UPDATE_GOLDEN=1 $(GO) test -count=1 -run '^(TestReleaseManifestIsTheRenderedChart|TestHelmInstalledMeshcert)$$' .

# The local control plane, the e2e tests and the demo.
include e2e/e2e.mk

# bench measures meshcert against the limit and its peers on the local
# stack (e2e/cmd/bench): admission over HTTPS against a no-op webhook server,
# applies through the API server, the controller at scale against
# cert-manager's gateway-shim, `meshcert check` and `inject` against
# `istioctl analyze`. It ends with one summary line per figure.
# BENCH_SIZE=full runs 10,000 Gateways, and 100,000 with their Certificates
# for the CI gate (admission, scale and gate took 28 minutes on 2 cores;
# apply adds about half an hour); quick takes about 15 minutes.
# BENCH_SCENARIOS picks scenarios (admission,apply,scale,gate);
# BENCH_GATE_GATEWAYS overrides the gate's Gateway counts (comma-separated;
# istioctl runs up to 20,000). Method and figures: docs/performance.md.
# Nothing asserts a time.
BENCH_SIZE      ?= quick
BENCH_SCENARIOS ?= admission,apply,scale,gate
BENCH_GATE_GATEWAYS ?=
BENCH_DIR       ?= $(CURDIR)/e2e/_artifacts/bench-$(BENCH_SIZE)

.PHONY: bench
bench: tools build $(ISTIOCTL) ## Run the Go benchmarks, then meshcert against the limit and its peers on the local stack (BENCH_SIZE=quick|full); ends with a summary.
	$(GO) test -run '^$$' -bench . -benchmem ./certs/... ./istiooperator/... ./manifest/... ./webhook/...
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	cd e2e && $(GO) build -o $(BENCH_DIR)/bench ./cmd/bench
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert \
		$(BENCH_DIR)/bench -size $(BENCH_SIZE) -scenarios $(BENCH_SCENARIOS) -dir $(BENCH_DIR) -istioctl $(ISTIOCTL) \
		$(if $(BENCH_GATE_GATEWAYS),-gate-gateways $(BENCH_GATE_GATEWAYS))
