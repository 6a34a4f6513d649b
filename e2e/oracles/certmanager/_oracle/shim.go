package main

// certmanager-oracle shim [--settle] [FILES...] runs cert-manager's own gateway-shim
// (pkg/controller/certificate-shim: SyncFnFor, as the gateway-shim and
// listenerset controllers call it) on every gateway.networking.k8s.io/v1
// Gateway and ListenerSet of the input, each alone, against an empty fake
// cert-manager clientset, and prints one JSON line per object: the
// Certificates the shim created (each judged by cert-manager's own
// Certificate validation, as its webhook would on the create), the Events
// it recorded, and its sync error. The input's cert-manager.io/v1
// Certificates exist before each sync (in the fake clientset and the
// lister), so the shim updates or leaves them; the Certificates printed are
// then all of the object's namespace after the sync, these included. With
// --settle the sync is run again, the lister refreshed from the clientset
// as its informer would be, while the previous one wrote anything (a
// Certificate the shim updates or deletes requeues its owner in a
// cluster), up to five times: the Certificates printed are then the ones
// the shim settles on. A ListenerSet's parent Gateway comes
// from the input, as the listenerset controller's lister would give it,
// with its issuer annotations inherited the same way (the controller's
// inheritAnnotations is unexported, so it is restated below, line for
// line).
//
// The objects are defaulted as the API server's CRD schema defaults them
// (tls.mode Terminate, a certificateRef's group "" and kind Secret) before
// the shim sees them: the shim dereferences those fields unchecked.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/cert-manager/cert-manager/internal/apis/certmanager/install"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmfake "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/fake"
	cmlisters "github.com/cert-manager/cert-manager/pkg/client/listers/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	shimhelper "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim"
)

type shimCertificate struct {
	Certificate *cmapi.Certificate `json:"certificate"`
	Verdict     verdict            `json:"verdict"`
}

type shimResult struct {
	Kind         string            `json:"kind"`
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Synced       bool              `json:"synced"`
	Certificates []shimCertificate `json:"certificates,omitempty"`
	Events       []string          `json:"events,omitempty"`
	Error        string            `json:"error,omitempty"`
}

func runShim(args []string, stdin io.Reader, stdout io.Writer) error {
	settle := false
	var files []string
	for _, a := range args {
		if a == "--settle" {
			settle = true
			continue
		}
		files = append(files, a)
	}
	scheme := runtime.NewScheme()
	install.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)

	docs, err := readDocuments(files, stdin)
	if err != nil {
		return err
	}
	gateways := map[string]*gwapi.Gateway{}
	type item struct {
		gateway     *gwapi.Gateway
		listenerSet *gwapi.ListenerSet
	}
	var items []item
	var existing []*cmapi.Certificate
	for _, raw := range docs {
		var meta metav1.TypeMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("failed to read apiVersion and kind: %w", err)
		}
		if meta.APIVersion == "cert-manager.io/v1" && meta.Kind == "Certificate" {
			crt := &cmapi.Certificate{}
			if err := json.Unmarshal(raw, crt); err != nil {
				return fmt.Errorf("failed to read a Certificate: %w", err)
			}
			existing = append(existing, crt)
			continue
		}
		if meta.APIVersion != "gateway.networking.k8s.io/v1" {
			continue
		}
		switch meta.Kind {
		case "Gateway":
			gw := &gwapi.Gateway{}
			if err := json.Unmarshal(raw, gw); err != nil {
				return fmt.Errorf("failed to read a Gateway: %w", err)
			}
			for i := range gw.Spec.Listeners {
				defaultTLS(gw.Spec.Listeners[i].TLS)
			}
			gateways[gw.Namespace+"/"+gw.Name] = gw
			items = append(items, item{gateway: gw})
		case "ListenerSet":
			ls := &gwapi.ListenerSet{}
			if err := json.Unmarshal(raw, ls); err != nil {
				return fmt.Errorf("failed to read a ListenerSet: %w", err)
			}
			for i := range ls.Spec.Listeners {
				defaultTLS(ls.Spec.Listeners[i].TLS)
			}
			items = append(items, item{listenerSet: ls})
		}
	}
	for _, it := range items {
		var res shimResult
		if it.gateway != nil {
			res = syncShim(scheme, codecs, it.gateway.DeepCopy(), existing, settle)
		} else {
			res = syncListenerSet(scheme, codecs, it.listenerSet.DeepCopy(), gateways, existing, settle)
		}
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("failed to write a result: %w", err)
		}
	}
	return nil
}

// syncListenerSet is the listenerset controller's ProcessItem over the
// input's Gateways.
func syncListenerSet(scheme *runtime.Scheme, codecs serializer.CodecFactory, ls *gwapi.ListenerSet, gateways map[string]*gwapi.Gateway, existing []*cmapi.Certificate, settle bool) shimResult {
	parentNS := ls.Namespace
	if ls.Spec.ParentRef.Namespace != nil && string(*ls.Spec.ParentRef.Namespace) != "" {
		parentNS = string(*ls.Spec.ParentRef.Namespace)
	}
	gw := gateways[parentNS+"/"+string(ls.Spec.ParentRef.Name)]
	if ls.DeletionTimestamp != nil || ls.Spec.ParentRef.Name == "" || gw == nil || gw.DeletionTimestamp != nil {
		return shimResult{Kind: "ListenerSet", Namespace: ls.Namespace, Name: ls.Name}
	}
	inheritAnnotations(ls, gw)
	return syncShim(scheme, codecs, ls, existing, settle)
}

// inheritAnnotations is cert-manager v1.21.2's
// pkg/controller/certificate-shim/listenerset/controller.go function of
// the same name.
func inheritAnnotations(xls *gwapi.ListenerSet, gw *gwapi.Gateway) {
	lsAnn := xls.GetAnnotations()
	if lsAnn == nil {
		lsAnn = map[string]string{}
	}
	gwAnn := gw.GetAnnotations()
	if gwAnn == nil {
		return
	}
	_, hasClusterIssuer := lsAnn[cmapi.IngressClusterIssuerNameAnnotationKey]
	_, hasIssuer := lsAnn[cmapi.IngressIssuerNameAnnotationKey]
	if !hasClusterIssuer && !hasIssuer {
		if v, ok := gwAnn[cmapi.IngressClusterIssuerNameAnnotationKey]; ok {
			lsAnn[cmapi.IngressClusterIssuerNameAnnotationKey] = v
		}
		if v, ok := gwAnn[cmapi.IngressIssuerNameAnnotationKey]; ok {
			lsAnn[cmapi.IngressIssuerNameAnnotationKey] = v
		}
	}
	if v, ok := gwAnn[cmapi.IssuerKindAnnotationKey]; ok {
		lsAnn[cmapi.IssuerKindAnnotationKey] = v
	}
	if v, ok := gwAnn[cmapi.IssuerGroupAnnotationKey]; ok {
		lsAnn[cmapi.IssuerGroupAnnotationKey] = v
	}
	xls.SetAnnotations(lsAnn)
}

// syncShim runs the shim's sync once on obj (a *gwapi.Gateway or
// *gwapi.ListenerSet) with cert-manager's default options, the existing
// Certificates of its namespace already there; with settle, again while it
// writes.
func syncShim(scheme *runtime.Scheme, codecs serializer.CodecFactory, obj interface {
	metav1.Object
	runtime.Object
}, existing []*cmapi.Certificate, settle bool) shimResult {
	res := shimResult{Kind: "Gateway", Namespace: obj.GetNamespace(), Name: obj.GetName(), Synced: true}
	if _, ok := obj.(*gwapi.ListenerSet); ok {
		res.Kind = "ListenerSet"
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	var stored []runtime.Object
	for _, crt := range existing {
		if crt.Namespace != obj.GetNamespace() {
			continue
		}
		if err := indexer.Add(crt.DeepCopy()); err != nil {
			res.Error = err.Error()
			return res
		}
		stored = append(stored, crt.DeepCopy())
	}
	client := cmfake.NewSimpleClientset(stored...)
	recorder := record.NewFakeRecorder(1000)
	defaults := controller.IngressShimOptions{DefaultIssuerKind: "Issuer", DefaultIssuerGroup: "cert-manager.io"}
	sync := shimhelper.SyncFnFor(recorder, logr.Discard(), client, cmlisters.NewCertificateLister(indexer), defaults, "meshcert-oracle")
	for range 5 {
		client.ClearActions()
		if err := sync(context.Background(), obj); err != nil {
			res.Error = err.Error()
			break
		}
		if !settle || !wrote(client) {
			break
		}
		if err := refresh(indexer, client, obj.GetNamespace()); err != nil {
			res.Error = err.Error()
			break
		}
	}
	close(recorder.Events)
	for e := range recorder.Events {
		res.Events = append(res.Events, e)
	}
	list, err := client.CertmanagerV1().Certificates(obj.GetNamespace()).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		res.Error = strings.TrimSpace(res.Error + "; list: " + err.Error())
		return res
	}
	for i := range list.Items {
		crt := &list.Items[i]
		crt.APIVersion, crt.Kind = "cert-manager.io/v1", "Certificate"
		raw, err := json.Marshal(crt)
		if err != nil {
			res.Error = strings.TrimSpace(res.Error + "; marshal: " + err.Error())
			continue
		}
		res.Certificates = append(res.Certificates, shimCertificate{Certificate: crt, Verdict: judge(scheme, codecs, raw)})
	}
	return res
}

// wrote says whether the last sync created, updated or deleted anything.
func wrote(client *cmfake.Clientset) bool {
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			return true
		}
	}
	return false
}

// refresh makes the lister's indexer hold the clientset's Certificates of
// namespace, as the shared informer would after the writes.
func refresh(indexer cache.Indexer, client *cmfake.Clientset, namespace string) error {
	list, err := client.CertmanagerV1().Certificates(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	items := make([]any, 0, len(list.Items))
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	return indexer.Replace(items, "")
}

// defaultTLS applies the Gateway API CRDs' defaults the API server writes.
func defaultTLS(tls *gwapi.ListenerTLSConfig) {
	if tls == nil {
		return
	}
	if tls.Mode == nil {
		mode := gwapi.TLSModeTerminate
		tls.Mode = &mode
	}
	for i := range tls.CertificateRefs {
		if tls.CertificateRefs[i].Group == nil {
			group := gwapi.Group("")
			tls.CertificateRefs[i].Group = &group
		}
		if tls.CertificateRefs[i].Kind == nil {
			kind := gwapi.Kind("Secret")
			tls.CertificateRefs[i].Kind = &kind
		}
	}
}

func readDocuments(files []string, stdin io.Reader) ([]json.RawMessage, error) {
	inputs := []io.Reader{stdin}
	if len(files) > 0 {
		inputs = inputs[:0]
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("failed to read %s: %w", name, err)
			}
			inputs = append(inputs, bytes.NewReader(data))
		}
	}
	var docs []json.RawMessage
	for _, in := range inputs {
		decoder := utilyaml.NewYAMLOrJSONDecoder(in, 4096)
		for {
			var raw json.RawMessage
			err := decoder.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("failed to decode a document: %w", err)
			}
			if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || string(trimmed) == "null" {
				continue
			}
			docs = append(docs, raw)
		}
	}
	return docs, nil
}
