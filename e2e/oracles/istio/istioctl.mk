# istioctl as a yardstick: Istio's own offline CI gate, `istioctl analyze
# --use-kube=false`, run side by side with `meshcert check` on the same
# manifests by `make bench`. Included by e2e/e2e.mk after oracle.mk, whose
# ISTIO_ORACLE_SRC and ISTIO_ORACLE_ISTIO it uses.
#
# Built like pilot-discovery (istiod.mk) from the Istio oracle's module, which
# lists istioctl as a tool (the `tool` line in its go.mod keeps `go mod tidy`
# from dropping what it needs), so it runs the same istio.io/istio version.
# Keyed by Istio's commit only; built only when missing. Not part of
# `make tools` nor of MESHCERT_TOOLS_PATH: only the benchmark needs it.

ISTIOCTL_DIR := $(TOOLS_CACHE)/istioctl-$(PILOT_DISCOVERY_COMMIT)
ISTIOCTL     := $(ISTIOCTL_DIR)/istioctl

# istioctl reads its version from the same package as istiod
# (istio.io/istio/pkg/version, stamped by common/scripts/report_build_info.sh),
# so `istioctl version --remote=false` names the Istio it is. buildHub and
# buildTag are left unset on purpose: with both set, `istioctl install` would
# default to images hub/<our pseudo-version>, which do not exist.
ISTIOCTL_LDFLAGS := $(PILOT_DISCOVERY_LDFLAGS)

.PHONY: istioctl
istioctl: $(ISTIOCTL) ## Build istioctl (the Istio oracle's version) into TOOLS_CACHE for the CI-gate benchmark (skips when built; cold ~5 min on 2 cores).

$(ISTIOCTL):
	cd $(ISTIO_ORACLE_SRC) && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '$(ISTIOCTL_LDFLAGS)' -o $(ISTIOCTL_DIR)/istioctl.tmp istio.io/istio/istioctl/cmd/istioctl
	mv $(ISTIOCTL_DIR)/istioctl.tmp $@
