# istiod as an oracle: Istio's own pilot-discovery, run outside a cluster by
# the e2e framework (e2e/framework/istiod.go) to see how istiod itself reads a
# `cacerts` Secret and signs workload certificates (DESIGN.md §10). Included
# by e2e/e2e.mk after oracle.mk, whose ISTIO_ORACLE_SRC and
# ISTIO_ORACLE_ISTIO it uses.
#
# Built from the Istio oracle's module, which lists pilot-discovery as a tool
# (the `tool` line in its go.mod keeps `go mod tidy` from dropping what it
# needs), so both run the same istio.io/istio version. Keyed by Istio's
# commit only: our sources play no part in it. Built only when missing.

PILOT_DISCOVERY_COMMIT := $(lastword $(subst -, ,$(ISTIO_ORACLE_ISTIO)))
PILOT_DISCOVERY_DIR    := $(TOOLS_CACHE)/pilot-discovery-$(PILOT_DISCOVERY_COMMIT)
PILOT_DISCOVERY        := $(PILOT_DISCOVERY_DIR)/pilot-discovery

# What Istio's own build (common/scripts/report_build_info.sh) stamps in, so
# istiod's log and /version name the Istio it is.
PILOT_DISCOVERY_LDFLAGS := -s -w \
	-X istio.io/istio/pkg/version.buildVersion=$(ISTIO_ORACLE_ISTIO) \
	-X istio.io/istio/pkg/version.buildGitRevision=$(PILOT_DISCOVERY_COMMIT) \
	-X istio.io/istio/pkg/version.buildStatus=Clean

.PHONY: pilot-discovery
pilot-discovery: $(PILOT_DISCOVERY) ## Build istiod (Istio's pilot-discovery, the Istio oracle's version) into TOOLS_CACHE (skips when built; cold ~2.5 min).

$(PILOT_DISCOVERY):
	cd $(ISTIO_ORACLE_SRC) && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '$(PILOT_DISCOVERY_LDFLAGS)' -o $(PILOT_DISCOVERY_DIR)/pilot-discovery.tmp istio.io/istio/pilot/cmd/pilot-discovery
	mv $(PILOT_DISCOVERY_DIR)/pilot-discovery.tmp $@
