# The Istio oracle: Istio's own Gateway validation and analyzers as a binary
# (see main.go). Included by e2e/e2e.mk after TOOLS_CACHE, TOOLS_ENV and
# TOOLS_GOFLAGS are defined, so paths are relative to the repository root.
#
# Like the cert-manager runner it is keyed by the Istio version and a hash of
# its sources (tests excluded), so editing it rebuilds it and a warm
# `make istio-oracle` does nothing. The version is read from the module's
# go.mod, its only source; the directory name carries Istio's commit.

ISTIO_ORACLE_SRC      := e2e/oracles/istio
ISTIO_ORACLE_ISTIO    := $(shell awk '$$1 == "istio.io/istio" || $$2 == "istio.io/istio" { print $$NF }' $(ISTIO_ORACLE_SRC)/go.mod)
ISTIO_ORACLE_HASH     := $(shell cat $(sort $(filter-out %_test.go,$(wildcard $(ISTIO_ORACLE_SRC)/*.go))) $(ISTIO_ORACLE_SRC)/go.mod $(ISTIO_ORACLE_SRC)/go.sum | sha256sum | cut -c1-12)
ISTIO_ORACLE_DIR      := $(TOOLS_CACHE)/istio-oracle-$(lastword $(subst -, ,$(ISTIO_ORACLE_ISTIO)))-$(ISTIO_ORACLE_HASH)
ISTIO_ORACLE          := $(ISTIO_ORACLE_DIR)/istio-oracle

.PHONY: istio-oracle
istio-oracle: $(ISTIO_ORACLE) ## Build the Istio oracle (Istio's Gateway validation and analyzers) into TOOLS_CACHE (skips when built).

$(ISTIO_ORACLE):
	cd $(ISTIO_ORACLE_SRC) && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o $(ISTIO_ORACLE_DIR)/istio-oracle.tmp .
	mv $(ISTIO_ORACLE_DIR)/istio-oracle.tmp $@
