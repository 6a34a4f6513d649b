# The cert-manager oracle: cert-manager's own Certificate validation and its
# gateway-shim as a binary (see _oracle/main.go and _oracle/shim.go).
# Included by e2e/e2e.mk after TOOLS_CACHE, TOOLS_ENV, TOOLS_GOFLAGS and
# CERT_MANAGER_VERSION are defined.
#
# The validation package is internal to cert-manager's root module, so the
# oracle is built inside a copy of that module's source: `go mod download`
# puts the exact release in the module cache (the cert-manager runner
# already needs it), the copy gets _oracle/*.go as meshcert-oracle/ and
# is built with cert-manager's own go.mod and go.sum, then removed. Keyed by
# the version and a hash of the oracle's source, so a warm build does
# nothing.

CM_ORACLE_SRC  := e2e/oracles/certmanager
CM_ORACLE_HASH := $(shell cat $(CM_ORACLE_SRC)/_oracle/*.go | sha256sum | cut -c1-12)
CM_ORACLE_DIR  := $(TOOLS_CACHE)/certmanager-oracle-$(CERT_MANAGER_VERSION)-$(CM_ORACLE_HASH)
CM_ORACLE      := $(CM_ORACLE_DIR)/certmanager-oracle

.PHONY: certmanager-oracle
certmanager-oracle: $(CM_ORACLE) ## Build the cert-manager oracle (cert-manager's Certificate validation) into TOOLS_CACHE (skips when built).

# cm_oracle_build builds the oracle into $(1) with the extra go build flags
# $(2): a copy of cert-manager's module with _oracle/*.go added, built
# with its own go.mod and go.sum, then removed.
define cm_oracle_build
	rm -rf $(dir $(1))src
	mkdir -p $(dir $(1))
	set -e; dir=$$($(GO) mod download -json github.com/cert-manager/cert-manager@$(CERT_MANAGER_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -n "$$dir"; cp -R "$$dir" $(dir $(1))src
	chmod -R u+w $(dir $(1))src
	mkdir -p $(dir $(1))src/meshcert-oracle
	cp $(CM_ORACLE_SRC)/_oracle/*.go $(dir $(1))src/meshcert-oracle/
	cd $(dir $(1))src && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) $(2) -o ../certmanager-oracle.tmp ./meshcert-oracle
	rm -rf $(dir $(1))src
	mv $(dir $(1))certmanager-oracle.tmp $(1)
endef

$(CM_ORACLE):
	$(call cm_oracle_build,$@,-ldflags '-s -w')

# certmanager-oracle-cover is the same oracle with statement counters in
# cert-manager's validation package. The oracle's own main package is in the
# list too: a binary writes its counters at exit only when its main package
# is instrumented. Not part of `make tools`.
#
# certmanager-coverage runs every comparison that feeds the cert-manager
# oracle (the generated input Certificates, and the Certificates meshcert
# plans for the corpus and the generated Gateways) with that oracle first in
# MESHCERT_TOOLS_PATH and GOCOVERDIR set, then prints the statement coverage
# of the package and of exactly the functions ValidateCertificate reaches
# (e2e/cmd/coverfuncs, run in the e2e module, which requires the same
# cert-manager release). It fails when a comparison fails or when that
# coverage is below CM_COVERAGE_MIN percent (docs/fidelity.md, "Coverage of
# cert-manager's Certificate validation").
CM_VALIDATION_PKG   := github.com/cert-manager/cert-manager/internal/apis/certmanager/validation
CM_SHIM_PKG         := github.com/cert-manager/cert-manager/pkg/controller/certificate-shim
CM_COVER_ROOT       := $(CM_VALIDATION_PKG).ValidateCertificate
CM_ORACLE_COVER_DIR := $(TOOLS_CACHE)/certmanager-oracle-cover-shim-$(CERT_MANAGER_VERSION)-$(CM_ORACLE_HASH)
CM_ORACLE_COVER     := $(CM_ORACLE_COVER_DIR)/certmanager-oracle
CM_COVERAGE_DIR     ?= $(E2E_ARTIFACTS)/certmanager-coverage
CM_COVERAGE_MIN     ?= 95
CM_COVERAGE_RUN     := ^(TestInputCertificatesAgreeWithCertManager|TestPlannedCertificatesPassCertManagerValidation|TestGatewayValidityAgreesWithIstio|TestGeneratedGatewaysAgreeWithIstio)$$
CM_COMMA            := ,

.PHONY: certmanager-oracle-cover
certmanager-oracle-cover: $(CM_ORACLE_COVER) ## Build the cert-manager oracle with coverage counters in cert-manager's validation and gateway-shim packages (not in make tools).

$(CM_ORACLE_COVER):
	$(call cm_oracle_build,$@,-ldflags '-s -w' -cover -coverpkg=$(CM_VALIDATION_PKG)$(CM_COMMA)$(CM_SHIM_PKG)$(CM_COMMA)github.com/cert-manager/cert-manager/meshcert-oracle)

.PHONY: certmanager-coverage
certmanager-coverage: tools build certmanager-oracle-cover ## Run the comparisons with cert-manager's validation with the covered oracle and print how much of its Certificate validation they reach.
	@dir=$$(mkdir -p "$(CM_COVERAGE_DIR)" && cd "$(CM_COVERAGE_DIR)" && pwd); \
	rm -rf "$$dir/counters"; mkdir -p "$$dir/counters"; \
	start=$$(date +%s); status=0; \
	echo "== the comparisons with cert-manager's validation, counters in $$dir/counters (log: $$dir/test.log)"; \
	(cd e2e && MESHCERT_TOOLS_PATH=$(CM_ORACLE_COVER_DIR):$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert GOCOVERDIR="$$dir/counters" \
		$(GO) test -count=1 -timeout 30m -run '$(CM_COVERAGE_RUN)' -v . > "$$dir/test.log" 2>&1) || status=$$?; \
	grep -E '^(--- |ok|FAIL|PASS)|disagree' "$$dir/test.log" || true; \
	echo "== statement coverage of the package"; \
	$(GO) tool covdata percent -i="$$dir/counters" -pkg=$(CM_VALIDATION_PKG); \
	$(GO) tool covdata textfmt -i="$$dir/counters" -pkg=$(CM_VALIDATION_PKG) -o "$$dir/profile.txt"; \
	echo "== statement coverage of the functions ValidateCertificate reaches"; \
	(cd e2e && $(GO) run ./cmd/coverfuncs -profile "$$dir/profile.txt" -moddir . -root $(CM_COVER_ROOT) -min $(CM_COVERAGE_MIN)) || status=$$?; \
	echo "certmanager-coverage took $$(( $$(date +%s) - start ))s"; \
	exit $$status

# shim-coverage runs the comparisons with cert-manager's gateway-shim
# (TestShimCertificatesAgreeWithCertManager, and
# TestShimUpdatesAgreeWithCertManager for Certificates that exist) with the
# covered oracle and prints the statement coverage of the shim's package
# and of exactly the functions its SyncFnFor reaches (docs/fidelity.md,
# "cert-manager's gateway-shim"). It fails below CM_SHIM_COVERAGE_MIN
# percent.
CM_SHIM_COVERAGE_DIR ?= $(E2E_ARTIFACTS)/shim-coverage
CM_SHIM_COVERAGE_MIN ?= 80

.PHONY: shim-coverage
shim-coverage: tools build certmanager-oracle-cover ## Run the comparison with cert-manager's gateway-shim with the covered oracle and print how much of the shim's sync it reaches.
	@dir=$$(mkdir -p "$(CM_SHIM_COVERAGE_DIR)" && cd "$(CM_SHIM_COVERAGE_DIR)" && pwd); \
	rm -rf "$$dir/counters"; mkdir -p "$$dir/counters"; status=0; \
	(cd e2e && MESHCERT_TOOLS_PATH=$(CM_ORACLE_COVER_DIR):$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert GOCOVERDIR="$$dir/counters" \
		$(GO) test -count=1 -timeout 30m -run '^(TestShimCertificatesAgreeWithCertManager|TestShimUpdatesAgreeWithCertManager)$$' -v . > "$$dir/test.log" 2>&1) || status=$$?; \
	grep -E '^(--- |ok|FAIL|PASS)|compared|disagree' "$$dir/test.log" || true; \
	echo "== statement coverage of the shim's package"; \
	$(GO) tool covdata percent -i="$$dir/counters" -pkg=$(CM_SHIM_PKG); \
	$(GO) tool covdata textfmt -i="$$dir/counters" -pkg=$(CM_SHIM_PKG) -o "$$dir/profile.txt"; \
	echo "== statement coverage of the functions SyncFnFor reaches"; \
	(cd e2e && $(GO) run ./cmd/coverfuncs -profile "$$dir/profile.txt" -moddir . -root $(CM_SHIM_PKG).SyncFnFor \
		-unreachable cmd/coverfuncs/certmanager-shim-unreachable.txt -min $(CM_SHIM_COVERAGE_MIN)) || status=$$?; \
	exit $$status
