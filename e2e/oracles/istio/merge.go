package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/schema/gvr"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient/clienttest"
	"istio.io/istio/pkg/log"
	"sigs.k8s.io/yaml"
)

// mergeRequest is one gateway proxy and the config around it: which
// servers of Istio Gateways and Gateway API listeners does istiod merge
// onto it, and which filter chains does it send.
type mergeRequest struct {
	ID string `json:"id"`
	// Config is YAML: networking.istio.io Gateways, Gateway API Gateways,
	// ListenerSets and GatewayClasses, and any Kubernetes objects
	// (Namespaces, Secrets). The oracle adds a valid TLS Secret for every
	// certificateRef of a Gateway API listener that the YAML lacks.
	Config string `json:"config"`
	// Services are the Services the proxy backs (it runs in their
	// namespace): a managed Gateway's <name>-<class>, or those
	// spec.addresses names.
	Services []mergeService `json:"services"`
	Proxy    struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"proxy"`
}

type mergeService struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	Ports     []mergeServicePort `json:"ports"`
}

type mergeServicePort struct {
	Port       int `json:"port"`
	TargetPort int `json:"targetPort"`
}

// mergeVerdict is what istiod does for the proxy.
type mergeVerdict struct {
	ID    string `json:"id"`
	Error string `json:"error"`
	// Configs are every Istio Gateway istiod knows, its own and those it
	// converted from Gateway API listeners, and whether it applies them to
	// the proxy.
	Configs []mergeConfig `json:"configs"`
	// Servers are the servers of the applied configs, kept or skipped.
	Servers []mergeServer `json:"servers"`
	// Listeners are the proxy's listeners with filter chains that match
	// SNI, and the matches sent more than once on one listener (Envoy
	// rejects such a listener).
	Listeners []mergeListener `json:"listeners"`
}

// mergeConfig is one Istio Gateway as istiod's push context holds it.
type mergeConfig struct {
	// Name is "namespace/name" of the config.
	Name string `json:"name"`
	// Origin is "Gateway" (networking.istio.io), or "KubernetesGateway"
	// or "ListenerSet" for a config istiod converted from that object's
	// listener.
	Origin string `json:"origin"`
	// Object is "namespace/name" of the object the config came from, and
	// Listener the listener's name for a converted one.
	Object   string `json:"object"`
	Listener string `json:"listener,omitempty"`
	// Applied: istiod merges the config onto the proxy (mergeGateways).
	// AppliedWithoutStrictMerging is the same with
	// PILOT_ENABLE_STRICT_GATEWAY_MERGING=false.
	Applied                     bool `json:"applied"`
	AppliedWithoutStrictMerging bool `json:"appliedWithoutStrictMerging"`
}

// mergeServer is one server of an applied config on one resolved port.
type mergeServer struct {
	Config string `json:"config"`
	Origin string `json:"origin"`
	Object string `json:"object"`
	// Index is the server's index in the config (always 0 for a converted
	// listener).
	Index int `json:"index"`
	// Port is the server's port; ResolvedPorts the ports istiod listens on
	// for it (the Service's target ports).
	Port          uint32   `json:"port"`
	ResolvedPorts []uint32 `json:"resolvedPorts"`
	Protocol      string   `json:"protocol"`
	Bind          string   `json:"bind,omitempty"`
	// Hosts as istiod holds them (a listener's are namespace/host).
	Hosts []string `json:"hosts"`
	TLS   bool     `json:"tls"`
	// Kept: mergeGateways kept the server on a port. SkippedFor, for a TLS
	// server it skipped, are the kept servers ("config#index") on that port
	// holding one of its hosts spelled the same way (CheckDuplicates);
	// empty for a server skipped for another reason (a protocol clash).
	Kept       bool     `json:"kept"`
	SkippedFor []string `json:"skippedFor,omitempty"`
	// DuplicateSNI are the SNI matches of this server that the proxy's
	// listener sends more than once.
	DuplicateSNI []string `json:"duplicateSNI,omitempty"`
}

type mergeListener struct {
	Name         string             `json:"name"`
	Port         uint32             `json:"port"`
	FilterChains []mergeFilterChain `json:"filterChains"`
	// Duplicates are the server_names of filter chain matches sent more
	// than once.
	Duplicates [][]string `json:"duplicates,omitempty"`
}

type mergeFilterChain struct {
	ServerNames []string `json:"serverNames"`
	// From are the kept servers ("config#index") whose SNI hosts are the
	// match's server_names.
	From []string `json:"from"`
}

// mergeStream answers one mergeRequest per input line with one verdict
// line, flushed at once. Every answer comes from Istio's own code: Istio's
// fake discovery server (pilot/test/xds, as Istio's gateway simulation
// tests use it) runs the Gateway API controller's conversion, the push
// context's gateway merge (mergeGateways with strict merging) and the
// gateway listener generation.
func mergeStream(in io.Reader, w io.Writer) error {
	// The merge logs a line per skipped server; here those are verdicts.
	// The fake cluster's CRDs lack Gateway API's bundle version, which
	// kclient reports as an error per CRD.
	for _, scope := range log.Scopes() {
		scope.SetOutputLevel(log.NoneLevel)
	}
	return streamLines(in, w, true, func(line []byte) any {
		var v mergeVerdict
		var req mergeRequest
		if err := json.Unmarshal(line, &req); err != nil {
			v.Error = "not a JSON object: " + err.Error()
		} else {
			v.ID = req.ID
			if err := merge(req, &v); err != nil {
				v.Error = err.Error()
			}
		}
		return v
	})
}

// proxyIP is the gateway proxy's address: its Services' endpoint.
const proxyIP = "10.10.0.1"

func merge(req mergeRequest, v *mergeVerdict) (err error) {
	if req.Proxy.Namespace == "" {
		return errors.New("proxy.namespace is required")
	}
	istioYAML, kubeYAML, err := splitMergeConfig(req)
	if err != nil {
		return err
	}
	t := &harnessFailer{}
	// Each request gets its own server: nothing of one case leaks into the
	// next, and the cleanups stop its informers and goroutines.
	defer t.runCleanups()
	defer func() {
		if r := recover(); r != nil {
			abort, ok := r.(harnessAbort)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("failed to run Istio's discovery server: %s", abort.msg)
		}
	}()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		ConfigString:           istioYAML,
		KubernetesObjectString: kubeYAML,
		// The fake installs the Gateway API CRDs Istio's tests use, which
		// leave out ListenerSet; its informer waits for the CRD.
		KubeClientModifier: func(c kube.Client) { clienttest.MakeCRD(t, c, gvr.ListenerSet) },
	})
	if err := waitForConversion(s, req.Config); err != nil {
		return err
	}
	// A full push context over the converted configs, as istiod builds on
	// a config change.
	push := model.NewPushContext()
	push.InitContext(s.Env(), nil, nil)
	s.Env().SetPushContext(push)

	proxy := func() *model.Proxy {
		return s.SetupProxy(&model.Proxy{
			Type:            model.Router,
			ID:              "gateway-0." + req.Proxy.Namespace,
			ConfigNamespace: req.Proxy.Namespace,
			Labels:          req.Proxy.Labels,
			IPAddresses:     []string{proxyIP},
			Metadata: &model.NodeMetadata{
				ClusterID: oracleCluster,
				Namespace: req.Proxy.Namespace,
				Labels:    req.Proxy.Labels,
			},
		})
	}
	// The merge without strict merging tells which configs strict merging
	// alone keeps off the proxy.
	strict := features.EnableStrictGatewayMerging
	features.EnableStrictGatewayMerging = false
	loose := proxy()
	features.EnableStrictGatewayMerging = strict
	p := proxy()

	describe(v, s.Store().List(gvk.Gateway, ""), p.MergedGateway, loose.MergedGateway)
	listeners := s.Listeners(p)
	describeListeners(v, listeners, p.MergedGateway)
	return nil
}

// splitMergeConfig puts networking.istio.io objects into Istio's config
// store and every other object into the fake cluster, with a ServiceEntry
// per Service the proxy backs and the Secrets and Namespaces the Gateway
// API listeners need.
func splitMergeConfig(req mergeRequest) (istioYAML, kubeYAML string, err error) {
	var istioDocs, kubeDocs []string
	namespaces := map[string]bool{req.Proxy.Namespace: true}
	secrets := map[string]bool{}
	var wantSecrets []string
	for _, doc := range splitYAMLDocs(req.Config) {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec struct {
				Listeners []struct {
					TLS *struct {
						CertificateRefs []struct {
							Name      string `json:"name"`
							Namespace string `json:"namespace"`
						} `json:"certificateRefs"`
					} `json:"tls"`
				} `json:"listeners"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return "", "", fmt.Errorf("failed to decode config: %w", err)
		}
		if obj.Kind == "" {
			continue
		}
		ns := obj.Metadata.Namespace
		if ns != "" {
			namespaces[ns] = true
		}
		switch {
		case strings.HasPrefix(obj.APIVersion, "networking.istio.io/"):
			istioDocs = append(istioDocs, doc)
			continue
		case obj.Kind == "Namespace":
			namespaces[obj.Metadata.Name] = false
		case obj.Kind == "Secret":
			secrets[ns+"/"+obj.Metadata.Name] = true
		}
		kubeDocs = append(kubeDocs, doc)
		for _, l := range obj.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				refNS := ref.Namespace
				if refNS == "" {
					refNS = ns
				}
				wantSecrets = append(wantSecrets, refNS+"/"+ref.Name)
			}
		}
	}
	for _, key := range wantSecrets {
		if secrets[key] {
			continue
		}
		secrets[key] = true
		ns, name, err := splitKey(key)
		if err != nil {
			return "", "", err
		}
		namespaces[ns] = true
		certPEM, keyPEM, err := namedCertificate("Secret " + key)
		if err != nil {
			return "", "", err
		}
		kubeDocs = append(kubeDocs, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: %s}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}`, name, ns, base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM)))
	}
	for _, svc := range req.Services {
		if svc.Namespace != req.Proxy.Namespace {
			// istiod gives a proxy only the Services of its own namespace.
			return "", "", fmt.Errorf("service %s/%s is not in the proxy's namespace %s", svc.Namespace, svc.Name, req.Proxy.Namespace)
		}
		var ports []string
		for _, p := range svc.Ports {
			target := p.TargetPort
			if target == 0 {
				target = p.Port
			}
			ports = append(ports, fmt.Sprintf("{number: %d, targetPort: %d, name: tcp-%d, protocol: TCP}", p.Port, target, p.Port))
		}
		// A ServiceEntry with the Service's cluster hostname and the proxy as
		// its endpoint gives the proxy that Service as a service target, as
		// Istio's gateway simulation tests do.
		istioDocs = append(istioDocs, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: %s}
spec:
  hosts: [%s.%s.svc.cluster.local]
  ports: [%s]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{address: %s}]`, svc.Name, svc.Namespace, svc.Name, svc.Namespace, strings.Join(ports, ", "), proxyIP))
	}
	for _, ns := range slices.Sorted(mapKeys(namespaces)) {
		if namespaces[ns] {
			kubeDocs = append(kubeDocs, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}", ns))
		}
	}
	return strings.Join(istioDocs, "\n---\n"), strings.Join(kubeDocs, "\n---\n"), nil
}

func splitYAMLDocs(s string) []string {
	var docs []string
	var cur []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			docs = append(docs, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(docs, strings.Join(cur, "\n"))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// waitForConversion waits until the Gateway API controller, which converts
// in the background once the first push context exists, has turned at
// least one listener of every Gateway API object into a config, and the
// set of configs holds still.
func waitForConversion(s *xds.FakeDiscoveryServer, config string) error {
	want := 0
	for _, doc := range splitYAMLDocs(config) {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err == nil && strings.HasPrefix(obj.APIVersion, "gateway.networking.k8s.io/") &&
			(obj.Kind == "Gateway" || obj.Kind == "ListenerSet") {
			want++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	last, stable := -1, 0
	for time.Now().Before(deadline) {
		objects := map[string]bool{}
		for _, cfg := range s.Store().List(gvk.Gateway, "") {
			if name := cfg.Annotations[constants.InternalParentNames]; name != "" {
				kind, rest, _ := strings.Cut(name, "/")
				objects[kind+"/"+strings.SplitN(rest, "/", 2)[0]] = true
			}
		}
		n := len(s.Store().List(gvk.Gateway, ""))
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		// Every object converted (a ListenerSet istiod refuses never is:
		// then the wait ends on the deadline's stable count).
		if (len(objects) >= want && stable >= 2) || stable >= 20 {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil
}

// origin tells where istiod's config came from: its InternalParentNames
// annotation is "Kind/name/section.namespace" for a converted listener.
func origin(cfg config.Config) (kind, object, listener string) {
	parent := cfg.Annotations[constants.InternalParentNames]
	if cfg.Annotations[constants.InternalGatewaySemantics] != constants.GatewaySemanticsGateway || parent == "" {
		return "Gateway", cfg.Namespace + "/" + cfg.Name, ""
	}
	kind, rest, _ := strings.Cut(parent, "/")
	if kind == gvk.KubernetesGateway.Kind {
		kind = "KubernetesGateway"
	}
	dot := strings.LastIndex(rest, ".")
	ns := rest[dot+1:]
	name, listener, _ := strings.Cut(rest[:dot], "/")
	return kind, ns + "/" + name, listener
}

func describe(v *mergeVerdict, configs []config.Config, merged, loose *model.MergedGateway) {
	appliedBy := func(m *model.MergedGateway) map[string]bool {
		out := map[string]bool{}
		if m != nil {
			for _, name := range m.GatewayNameForServer {
				out[name] = true
			}
		}
		return out
	}
	applied, looseApplied := appliedBy(merged), appliedBy(loose)
	sort.Slice(configs, func(i, j int) bool {
		return configs[i].Namespace+"/"+configs[i].Name < configs[j].Namespace+"/"+configs[j].Name
	})
	byName := map[string]mergeConfig{}
	for _, cfg := range configs {
		kind, object, listenerName := origin(cfg)
		name := cfg.Namespace + "/" + cfg.Name
		c := mergeConfig{
			Name: name, Origin: kind, Object: object, Listener: listenerName,
			Applied: applied[name], AppliedWithoutStrictMerging: looseApplied[name],
		}
		byName[name] = c
		v.Configs = append(v.Configs, c)
	}
	if merged == nil {
		return
	}

	// Kept servers by resolved port and bind, with their hosts as
	// CheckDuplicates compares them.
	type keptServer struct {
		id    string
		hosts []string
	}
	kept := map[*networking.Server]bool{}
	keptOn := map[string][]keptServer{}
	ids := map[*networking.Server]string{}
	for sp, ms := range merged.MergedServers {
		for _, s := range ms.Servers {
			kept[s] = true
			key := strconv.Itoa(int(sp.Number)) + "/" + sp.Bind
			keptOn[key] = append(keptOn[key], keptServer{id: serverID(merged, s, configs), hosts: s.Hosts})
			ids[s] = key
		}
	}
	for s, name := range merged.GatewayNameForServer {
		c := byName[name]
		idx := serverIndex(configs, name, s)
		srv := mergeServer{
			Config: name, Origin: c.Origin, Object: c.Object, Index: idx,
			Port: s.GetPort().GetNumber(), Protocol: s.GetPort().GetProtocol(), Bind: s.GetBind(),
			Hosts: s.GetHosts(), TLS: s.GetTls() != nil, Kept: kept[s],
		}
		for sp, ms := range merged.MergedServers {
			if slices.Contains(ms.Servers, s) {
				srv.ResolvedPorts = append(srv.ResolvedPorts, sp.Number)
			}
		}
		slices.Sort(srv.ResolvedPorts)
		if !srv.Kept && srv.TLS {
			// The kept servers on any port holding one of its hosts as
			// written: the ones CheckDuplicates found it duplicates.
			for key, others := range keptOn {
				if !strings.HasSuffix(key, "/"+s.GetBind()) {
					continue
				}
				for _, o := range others {
					if slices.ContainsFunc(o.hosts, func(h string) bool { return slices.Contains(s.GetHosts(), h) }) {
						srv.SkippedFor = append(srv.SkippedFor, o.id)
					}
				}
			}
			slices.Sort(srv.SkippedFor)
			srv.SkippedFor = slices.Compact(srv.SkippedFor)
		}
		v.Servers = append(v.Servers, srv)
	}
	sort.Slice(v.Servers, func(i, j int) bool {
		a, b := v.Servers[i], v.Servers[j]
		if a.Config != b.Config {
			return a.Config < b.Config
		}
		return a.Index < b.Index
	})
}

// serverID names a server "config#index".
func serverID(merged *model.MergedGateway, s *networking.Server, configs []config.Config) string {
	name := merged.GatewayNameForServer[s]
	return name + "#" + strconv.Itoa(serverIndex(configs, name, s))
}

// serverIndex finds s among its config's servers; mergeGateways may have
// cloned it (to rewrite ./host), so compare by content.
func serverIndex(configs []config.Config, name string, s *networking.Server) int {
	for _, cfg := range configs {
		if cfg.Namespace+"/"+cfg.Name != name {
			continue
		}
		gw, ok := cfg.Spec.(*networking.Gateway)
		if !ok {
			return -1
		}
		for i, other := range gw.GetServers() {
			if other == s || proto.Equal(other, s) || other.GetPort().GetName() == s.GetPort().GetName() && other.GetPort().GetNumber() == s.GetPort().GetNumber() {
				return i
			}
		}
	}
	return -1
}

// describeListeners lists the SNI filter chain matches of every listener
// and which kept servers sent each, and marks the matches sent twice.
func describeListeners(v *mergeVerdict, listeners []*listener.Listener, merged *model.MergedGateway) {
	if merged == nil {
		return
	}
	for _, l := range listeners {
		ml := mergeListener{Name: l.GetName(), Port: l.GetAddress().GetSocketAddress().GetPortValue()}
		seen := map[string]int{}
		for _, fc := range l.GetFilterChains() {
			match := fc.GetFilterChainMatch()
			if len(match.GetServerNames()) == 0 {
				continue
			}
			names := slices.Sorted(slices.Values(match.GetServerNames()))
			var from []string
			for sp, ms := range merged.MergedServers {
				if sp.Number != ml.Port {
					continue
				}
				for _, s := range ms.Servers {
					if info := merged.TLSServerInfo[s]; info != nil && slices.Equal(slices.Sorted(slices.Values(info.SNIHosts)), names) {
						from = append(from, merged.GatewayNameForServer[s])
					}
				}
			}
			slices.Sort(from)
			ml.FilterChains = append(ml.FilterChains, mergeFilterChain{ServerNames: names, From: slices.Compact(from)})
			key, err := proto.MarshalOptions{Deterministic: true}.Marshal(match)
			if err != nil {
				key = []byte(match.String())
			}
			seen[string(key)]++
			if seen[string(key)] == 2 {
				ml.Duplicates = append(ml.Duplicates, names)
			}
		}
		// Servers whose SNI hosts hold "*" build a match-all chain, which
		// istiod makes the listener's default filter chain, each replacing
		// the one before (buildGatewayListener): of several, one is served.
		var matchAll []int
		for i, srv := range v.Servers {
			if srv.Kept && srv.TLS && slices.Contains(srv.ResolvedPorts, ml.Port) && slices.Contains(sniHosts(srv.Hosts), "*") {
				matchAll = append(matchAll, i)
			}
		}
		if len(matchAll) > 1 {
			ml.Duplicates = append(ml.Duplicates, []string{"*"})
			for _, i := range matchAll {
				v.Servers[i].DuplicateSNI = append(v.Servers[i].DuplicateSNI, "*")
			}
		}
		if len(ml.FilterChains) == 0 && len(matchAll) == 0 {
			continue
		}
		v.Listeners = append(v.Listeners, ml)
		for _, dup := range ml.Duplicates {
			if slices.Equal(dup, []string{"*"}) {
				continue
			}
			for i := range v.Servers {
				srv := &v.Servers[i]
				if !srv.Kept || !srv.TLS || !slices.Contains(srv.ResolvedPorts, ml.Port) {
					continue
				}
				if slices.Equal(sniHosts(srv.Hosts), dup) {
					srv.DuplicateSNI = append(srv.DuplicateSNI, strings.Join(dup, ","))
				}
			}
		}
	}
}

// sniHosts is model.GetSNIHostsForServer for hosts.
func sniHosts(hosts []string) []string {
	return model.GetSNIHostsForServer(&networking.Server{Hosts: hosts, Tls: &networking.ServerTLSSettings{}})
}
