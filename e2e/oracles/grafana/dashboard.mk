# The dashboard oracle: Grafana's dashboard schema (the Grafana Foundation
# SDK) and Prometheus's PromQL parser, run on the chart's Grafana dashboard
# (see main.go). Included by e2e/e2e.mk after TOOLS_CACHE, TOOLS_ENV and
# TOOLS_GOFLAGS are defined. Keyed by a hash of its module and source.

DASHBOARD_ORACLE_SRC  := e2e/oracles/grafana
DASHBOARD_ORACLE_HASH := $(shell cat $(DASHBOARD_ORACLE_SRC)/go.mod $(DASHBOARD_ORACLE_SRC)/go.sum $(DASHBOARD_ORACLE_SRC)/*.go | sha256sum | cut -c1-12)
DASHBOARD_ORACLE_DIR  := $(TOOLS_CACHE)/dashboard-oracle-$(DASHBOARD_ORACLE_HASH)
DASHBOARD_ORACLE      := $(DASHBOARD_ORACLE_DIR)/dashboard-oracle

$(DASHBOARD_ORACLE):
	cd $(DASHBOARD_ORACLE_SRC) && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o $(DASHBOARD_ORACLE_DIR)/dashboard-oracle.tmp .
	mv $(DASHBOARD_ORACLE_DIR)/dashboard-oracle.tmp $@
