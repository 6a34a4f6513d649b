# How much of Istio's Gateway validation the fidelity corpus reaches
# (docs/fidelity.md, "Coverage of Istio's Gateway validation"). Included by
# e2e/e2e.mk after oracle.mk, so paths are relative to the repository root.
# Neither target is part of `make tools` or `make test`.
#
# istio-oracle-cover builds the Istio oracle with statement counters in
# ValidateGateway's packages and the helpers it calls. The oracle's own main
# package is in the list too: a binary writes its counters at exit only when
# its main package is instrumented. Like the oracle it is keyed by Istio's
# commit and the hash of the oracle's sources.
#
# fidelity-coverage runs the Istio validation comparisons (the repository's
# corpus, Gateway by Gateway and server by server, the generated Gateways,
# the fuzz target's seeds and corpus, the upstream manifests) with that oracle first in MESHCERT_TOOLS_PATH and
# GOCOVERDIR set, then prints the statement coverage of the packages and of
# exactly the functions ValidateGateway reaches (e2e/cmd/coverfuncs). Inputs
# kept out of the corpus until meshcert agrees with Istio on them
# (testdata/fidelity/*.yaml.txt) are judged by the oracle alone, and give a
# second figure. It fails when a comparison fails or when the coverage of the
# statements a Gateway can reach is below FIDELITY_COVERAGE_MIN percent.

ISTIO_COVER_PKGS := \
	istio.io/istio/pkg/config/validation \
	istio.io/istio/pkg/config/validation/agent \
	istio.io/istio/pkg/config/gateway \
	istio.io/istio/pkg/config/labels \
	istio.io/istio/pkg/config/protocol \
	istio.io/istio/pkg/config/security \
	istio.io/istio/pkg/util/net
ISTIO_COVER_ROOT := istio.io/istio/pkg/config/validation.ValidateGateway

ISTIO_COVER_EMPTY :=
ISTIO_COVER_SPACE := $(ISTIO_COVER_EMPTY) $(ISTIO_COVER_EMPTY)
ISTIO_COVER_COMMA := ,
ISTIO_COVER_PKG_LIST := $(subst $(ISTIO_COVER_SPACE),$(ISTIO_COVER_COMMA),$(strip $(ISTIO_COVER_PKGS)))

ISTIO_COVER_DIR    := $(TOOLS_CACHE)/istio-oracle-cover-$(lastword $(subst -, ,$(ISTIO_ORACLE_ISTIO)))-$(ISTIO_ORACLE_HASH)-$(shell echo '$(ISTIO_COVER_PKG_LIST)' | sha256sum | cut -c1-6)
ISTIO_COVER_ORACLE := $(ISTIO_COVER_DIR)/istio-oracle

FIDELITY_COVERAGE_DIR ?= $(E2E_ARTIFACTS)/fidelity-coverage
FIDELITY_COVERAGE_MIN ?= 95
FIDELITY_COVERAGE_RUN := ^(TestGatewayValidityAgreesWithIstio|TestIstioRejectionsAreMeshcertErrorsOnTheSameServer|TestGeneratedGatewaysAgreeWithIstio|FuzzGatewayAgreesWithIstio|TestUpstreamCorpus)$$
FIDELITY_COVERAGE_PENDING = $(wildcard testdata/fidelity/*.yaml.txt)

.PHONY: istio-oracle-cover
istio-oracle-cover: $(ISTIO_COVER_ORACLE) ## Build the Istio oracle with coverage counters in Istio's Gateway validation (not in make tools).

$(ISTIO_COVER_ORACLE):
	cd $(ISTIO_ORACLE_SRC) && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -cover \
		-coverpkg=github.com/meshcert/meshcert/e2e/oracles/istio,$(ISTIO_COVER_PKG_LIST) -o $(ISTIO_COVER_DIR)/istio-oracle.tmp .
	mv $(ISTIO_COVER_DIR)/istio-oracle.tmp $@

.PHONY: fidelity-coverage
fidelity-coverage: tools build istio-oracle-cover ## Run the Istio validation comparisons with the covered oracle and print how much of Istio's Gateway validation they reach.
	@dir=$$(mkdir -p "$(FIDELITY_COVERAGE_DIR)" && cd "$(FIDELITY_COVERAGE_DIR)" && pwd); \
	rm -rf "$$dir/counters" "$$dir/pending"; mkdir -p "$$dir/counters" "$$dir/pending"; \
	start=$$(date +%s); status=0; \
	echo "== the Istio validation comparisons, counters in $$dir/counters (log: $$dir/test.log)"; \
	(cd e2e && MESHCERT_TOOLS_PATH=$(ISTIO_COVER_DIR):$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert GOCOVERDIR="$$dir/counters" \
		$(GO) test -count=1 -timeout 30m -run '$(FIDELITY_COVERAGE_RUN)' -v . > "$$dir/test.log" 2>&1) || status=$$?; \
	grep -E '^(--- |ok|FAIL|PASS)|disagreement:' "$$dir/test.log" || true; \
	echo "== statement coverage of the packages"; \
	$(GO) tool covdata percent -i="$$dir/counters" -pkg=$(ISTIO_COVER_PKG_LIST); \
	$(GO) tool covdata textfmt -i="$$dir/counters" -o "$$dir/profile.txt"; \
	echo "== statement coverage of the functions ValidateGateway reaches"; \
	(cd e2e && $(GO) run ./cmd/coverfuncs -profile "$$dir/profile.txt" -moddir oracles/istio -root $(ISTIO_COVER_ROOT) \
		-unreachable cmd/coverfuncs/istio-gateway-unreachable.txt -min $(FIDELITY_COVERAGE_MIN)) || status=$$?; \
	if [[ -n "$(FIDELITY_COVERAGE_PENDING)" ]]; then \
		echo "== with the inputs meshcert does not agree on yet ($(FIDELITY_COVERAGE_PENDING)), judged by Istio alone"; \
		GOCOVERDIR="$$dir/pending" $(ISTIO_COVER_ORACLE) validate $(FIDELITY_COVERAGE_PENDING) > /dev/null; \
		$(GO) tool covdata textfmt -i="$$dir/counters,$$dir/pending" -o "$$dir/profile-pending.txt"; \
		(cd e2e && $(GO) run ./cmd/coverfuncs -profile "$$dir/profile-pending.txt" -moddir oracles/istio -root $(ISTIO_COVER_ROOT) \
			-unreachable cmd/coverfuncs/istio-gateway-unreachable.txt) | grep -E '^(Total|Without)' || status=$$?; \
	fi; \
	echo "fidelity-coverage took $$(( $$(date +%s) - start ))s"; \
	exit $$status
