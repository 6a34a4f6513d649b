package framework

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ToolsPathEnv names the variable holding the directories (separated like
// PATH) that `make tools` built the binaries into. `make e2e` sets it; to run
// `go test` by hand: eval "$(make -s tools-env)".
const ToolsPathEnv = "MESHCERT_TOOLS_PATH"

// Tools are the paths of the binaries a control plane runs.
type Tools struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	Kubectl               string
	Helm                  string
	CertManager           string
	// IstioOracle runs Istio's own Gateway validation and analyzers
	// (e2e/oracles/istio).
	IstioOracle string
	// CertManagerOracle runs cert-manager's own Certificate validation
	// (e2e/oracles/certmanager).
	CertManagerOracle string
	// PilotDiscovery is istiod, Istio's pilot-discovery of the Istio
	// oracle's version (e2e/oracles/istio/istiod.mk), run by StartIstiod.
	PilotDiscovery string
	// Pebble is Let's Encrypt's test ACME server (e2e/tools/pebble), run
	// with Config.ACME.
	Pebble string
	// Promtool is Prometheus's promtool (e2e/tools/prometheus), which runs
	// the unit tests of the chart's alerting rules.
	Promtool string
	// DashboardOracle checks Grafana dashboards with Grafana's dashboard
	// schema and Prometheus's PromQL parser (e2e/oracles/grafana).
	DashboardOracle string
	// SarifMultitool is Microsoft's SARIF validator (the npm package
	// @microsoft/sarif-multitool, e2e/tools/npm).
	SarifMultitool string
	// NodeModules is the node_modules folder of e2e/tools/npm: the Actions
	// toolkit, xmllint-wasm and the JUnit schema, run by the machine's node.
	NodeModules string
}

// ToolsFromEnv finds every tool in the directories of MESHCERT_TOOLS_PATH.
func ToolsFromEnv() (Tools, error) {
	path := os.Getenv(ToolsPathEnv)
	if path == "" {
		return Tools{}, fmt.Errorf("%s is not set: run the tests with `make e2e`, or eval \"$(make -s tools-env)\" after `make tools`", ToolsPathEnv)
	}
	dirs := filepath.SplitList(path)
	var missing []string
	lookup := func(name string, wanted func(os.FileInfo) bool) string {
		for _, dir := range dirs {
			candidate := filepath.Join(dir, name)
			if info, err := os.Stat(candidate); err == nil && wanted(info) {
				return candidate
			}
		}
		missing = append(missing, name)
		return ""
	}
	find := func(name string) string {
		return lookup(name, func(info os.FileInfo) bool { return !info.IsDir() && info.Mode()&0o111 != 0 })
	}
	findDir := func(name string) string {
		return lookup(name, os.FileInfo.IsDir)
	}
	tools := Tools{
		Etcd:                  find("etcd"),
		KubeAPIServer:         find("kube-apiserver"),
		KubeControllerManager: find("kube-controller-manager"),
		Kubectl:               find("kubectl"),
		Helm:                  find("helm"),
		CertManager:           find("cert-manager-controller"),
		IstioOracle:           find("istio-oracle"),
		CertManagerOracle:     find("certmanager-oracle"),
		PilotDiscovery:        find("pilot-discovery"),
		Pebble:                find("pebble"),
		Promtool:              find("promtool"),
		DashboardOracle:       find("dashboard-oracle"),
		SarifMultitool:        find("Sarif.Multitool"),
		NodeModules:           findDir("node_modules"),
	}
	if len(missing) > 0 {
		return Tools{}, fmt.Errorf("tools %s not found in %s=%s: run `make tools`", strings.Join(missing, ", "), ToolsPathEnv, path)
	}
	return tools, nil
}

func (t Tools) validate() error {
	if t.Etcd == "" || t.KubeAPIServer == "" || t.KubeControllerManager == "" || t.CertManager == "" {
		return errors.New("etcd, kube-apiserver, kube-controller-manager and cert-manager-controller paths are required")
	}
	return nil
}
