package offline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshcert/meshcert/certs"
	"github.com/meshcert/meshcert/finding"
	"github.com/meshcert/meshcert/gatewayapi"
	"github.com/meshcert/meshcert/internal/jsonvalue"
	"github.com/meshcert/meshcert/internal/parallel"
	"github.com/meshcert/meshcert/istiooperator"
)

// Result is the planner's answer for a whole set of objects, as the CLI
// needs it.
type Result struct {
	// Objects are the input objects in input order, mutated where meshcert
	// mutates them.
	Objects []*unstructured.Unstructured
	// Certificates are the Certificates meshcert would own, sorted by
	// namespace and name, except those the input already holds: a
	// meshcert Certificate in the input is replaced in place by what
	// meshcert wants it to be, so feeding inject's output back in gives the
	// same output.
	Certificates []*cmapi.Certificate
	// ShimCertificates are the Certificates cert-manager's gateway-shim
	// will create for the Gateway API Gateways and ListenerSets of the
	// input, sorted by namespace and name. meshcert does not create them.
	// One the input already holds is not among them: the shim leaves it
	// alone, or, when the object controls it, updates it, and Objects holds
	// it as the shim updates it (gatewayapi.ShimPlan.Update), so feeding
	// inject's output back in gives the same output.
	ShimCertificates []*cmapi.Certificate
	// finding.Findings are every finding, each with the input object it is about.
	Findings []ObjectFinding
	// Gateways are the plans of the Istio Gateways of the input, in input
	// order: what `meshcert status` shows beside the cluster's objects.
	Gateways []GatewayPlan
	// Refs name the input objects, in input order, as findings name them:
	// with the namespace kubectl would give one that names none.
	Refs []finding.ObjectRef
}

// GatewayPlan is what the planner decided for one Istio Gateway.
type GatewayPlan struct {
	// Index is the Gateway's position in the input.
	Index int
	// Managed is true when meshcert injects its credentials and owns their
	// Certificates.
	Managed bool
	// CredentialNamespaces are where its credentials must live.
	CredentialNamespaces []string
	// Certified are the Secrets meshcert's Certificates write for it,
	// namespace/name.
	Certified []string
}

// ObjectFinding is a finding with the index of the input object it is about.
type ObjectFinding struct {
	finding.Finding
	Index int
}

// meshCA is an IstioOperator's plan for istiod's cacerts.
type meshCA struct {
	index       int
	obj         *unstructured.Unstructured
	certificate *cmapi.Certificate
}

// contestedMeshCAs keeps one cacerts Certificate per namespace: the
// IstioOperator stored first (by creationTimestamp; without timestamps, the
// first in the input) keeps it, every other one gets an error and no
// Certificate, rather than whichever file kubectl applies last winning.
func (r *Result) contestedMeshCAs(cas []meshCA, add func(int, finding.Findings)) {
	byNamespace := map[string][]meshCA{}
	for _, ca := range cas {
		ns := ca.certificate.Namespace
		byNamespace[ns] = append(byNamespace[ns], ca)
	}
	for ns, list := range byNamespace {
		if len(list) < 2 {
			continue
		}
		slices.SortStableFunc(list, func(a, b meshCA) int {
			at, bt := a.obj.GetCreationTimestamp().Time, b.obj.GetCreationTimestamp().Time
			switch {
			case at.IsZero() && bt.IsZero():
				return cmp.Compare(a.index, b.index)
			case at.IsZero():
				return 1
			case bt.IsZero():
				return -1
			}
			return cmp.Or(at.Compare(bt), cmp.Compare(a.index, b.index))
		})
		owner := list[0].obj
		for _, later := range list[1:] {
			b := finding.New(finding.ObjectRef{APIVersion: later.obj.GetAPIVersion(), Kind: later.obj.GetKind(), Namespace: later.obj.GetNamespace(), Name: later.obj.GetName()})
			b.Errorf(finding.CodeCACertsContested, field.NewPath("metadata", "annotations"),
				"%s %s also asks meshcert for istiod's cacerts in %q, and came first; one Certificate can write that Secret, so this one gets none: drop the issuer annotation here, or install the two into different namespaces",
				owner.GetKind(), nsName(owner.GetNamespace(), owner.GetName()), ns)
			add(later.index, b.Findings())
			r.Certificates = slices.DeleteFunc(r.Certificates, func(c *cmapi.Certificate) bool { return c == later.certificate })
		}
	}
}

// shapeFinding reports an object whose fields do not have their API's
// types, at the field when it is known.
func shapeFinding(obj *unstructured.Unstructured, shape *ShapeError) finding.Finding {
	b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
	if shape.Field == "" {
		b.Errorf(finding.CodeMalformedObject, nil,
			"the %s does not have the shape its API requires (%v), so the API server rejects it and meshcert cannot read it: fix the field's type", obj.GetKind(), shape.Err)
		return b.Findings()[0]
	}
	b.Errorf(finding.CodeMalformedObject, field.NewPath(shape.Field),
		"a JSON %s where the %s API has %s, so the API server rejects it and meshcert cannot read it: write the field as its API types it", shape.Got, obj.GetKind(), shape.Want)
	return b.Findings()[0]
}

// ObjectError is an input object the planner could not read.
type ObjectError struct {
	Index int
	Err   error
}

func (e *ObjectError) Error() string { return e.Err.Error() }

func (e *ObjectError) Unwrap() error { return e.Err }

// namespacedKinds are the kinds the planner reads that live in a namespace;
// like kubectl, objects of these kinds without one are taken to be in the
// default namespace.
var namespacedKinds = map[string]bool{
	"networking.istio.io/Gateway":        true,
	"cert-manager.io/Issuer":             true,
	"cert-manager.io/Certificate":        true,
	"/Secret":                            true,
	"/ConfigMap":                         true,
	"/Pod":                               true,
	"apps/Deployment":                    true,
	"apps/StatefulSet":                   true,
	"apps/DaemonSet":                     true,
	"install.istio.io/IstioOperator":     true,
	"networking.istio.io/VirtualService": true,
	gatewayapi.Group + "/Gateway":        true,
	gatewayapi.Group + "/ListenerSet":    true,
	gatewayapi.Group + "/" + gatewayapi.KindReferenceGrant: true,
}

// PlanObjects plans a set of objects as if they were the cluster: each
// certs.Gateway is planned against all the others, the issuers, Certificates,
// Secrets, namespaces and gateway workloads among them. Objects without a
// namespace are taken to be in defaultNamespace, as kubectl would apply them.
//
// What depends on one object alone (reading it, its metadata checks) and
// what only reads the finished index (the second plan of every Gateway,
// the checks of every Certificate) runs on every CPU; the results are
// merged in input order, so the result is the same as one loop's.
func PlanObjects(ctx context.Context, objs []*unstructured.Unstructured, opts certs.Options, defaultNamespace string) (*Result, error) {
	return planObjects(ctx, objs, opts, defaultNamespace, true)
}

// CheckObjects is PlanObjects for callers that read only the findings,
// references, plans and Certificates (check, status): the Result's
// Objects are nil. It does not keep the mutated copy of every Gateway that
// inject prints (a tenth of the heap when checking 100,000 Gateways), nor
// build the objects of the input's Certificates.
func CheckObjects(ctx context.Context, objs []*unstructured.Unstructured, opts certs.Options, defaultNamespace string) (*Result, error) {
	return planObjects(ctx, objs, opts, defaultNamespace, false)
}

// planObjects plans objs; withObjects says whether to build the Result's
// Objects.
func planObjects(ctx context.Context, objs []*unstructured.Unstructured, opts certs.Options, defaultNamespace string, withObjects bool) (*Result, error) {
	shimOpts := gatewayapi.DefaultShimOptions()
	effective := make([]*unstructured.Unstructured, len(objs))
	gvks := make([]schema.GroupVersionKind, len(objs))
	parsed := make([]parsedObject, len(objs))
	parallel.ForEach(len(objs), objectChunk, func(i int) {
		obj := objs[i]
		effective[i] = obj
		gvk := obj.GroupVersionKind()
		gvks[i] = gvk
		switch kind, install := istiooperator.KindOf(gvk); {
		case obj.GetNamespace() == "" && namespacedKinds[gvk.Group+"/"+gvk.Kind]:
			effective[i] = obj.DeepCopy()
			effective[i].SetNamespace(defaultNamespace)
		case install && !kind.Namespaced && obj.GetNamespace() != "":
			// The API server drops the namespace of a cluster-scoped object
			// (the Sail kinds), so two copies differing only there are one.
			effective[i] = obj.DeepCopy()
			effective[i].SetNamespace("")
		}
		parsed[i] = parseObject(effective[i], gvk)
	})

	// The input is rarely the whole cluster: check the policies of the
	// Namespaces it holds, not refuse every namespace it does not.
	opts.PolicyOnlyForKnownNamespaces = true
	index := NewIndex()
	// Objects whose fields have the wrong types are findings of their own,
	// so one bad object does not hide what is wrong with the others.
	var misshapen []ObjectFinding
	unreadable := make([]bool, len(objs))
	gateways := make([]*certs.Gateway, len(objs))
	for i, obj := range effective {
		// The Gateway the index is given is the one planned below, read
		// from the same object; a Certificate is only the index's, which
		// lets go of it when a planned one of the same name replaces it.
		gateways[i] = parsed[i].gateway
		err := index.addParsed(obj, parsed[i])
		parsed[i] = parsedObject{}
		var shape *ShapeError
		switch {
		case err == nil:
		case errors.As(err, &shape):
			unreadable[i] = true
			misshapen = append(misshapen, ObjectFinding{Index: i, Finding: shapeFinding(obj, shape)})
		default:
			return nil, &ObjectError{Index: i, Err: err}
		}
	}

	// First pass: what every certs.Gateway will look like after injection and
	// which Certificates meshcert will own, so each certs.Gateway is checked
	// against the others as the cluster will hold them. Each plan depends
	// on the Gateways planned before it, so this pass is one loop.
	for i := range effective {
		if !certs.IsGateway(gvks[i]) {
			continue
		}
		plan := certs.PlanGateway(ctx, gateways[i], index, opts)
		switch injected, ok := plan.InjectedGateway(); {
		case len(plan.Injections) == 0:
			// Mutated would be the object itself, read the same way again.
			index.AddGateway(gateways[i])
		case ok:
			// The index reads the parsed fields, as the cluster's cache
			// holds them: the injected view is built without copying and
			// parsing the object again, which took a fifth of this loop.
			index.AddGateway(injected)
		default:
			mutated, err := plan.Mutated()
			if err != nil {
				return nil, &ObjectError{Index: i, Err: err}
			}
			claimed := certs.ParseGateway(mutated)
			claimed.Object = nil
			index.AddGateway(claimed)
		}
		for _, crt := range plan.Certificates {
			index.AddCertificate(claimedSince(ctx, index, crt, gateways[i].Created))
		}
	}

	// The shim's Certificates are as real as meshcert's: a Secret they
	// write is not free for another Gateway to take.
	apiObjects := map[int]*gatewayapi.Object{}
	for i, obj := range effective {
		if unreadable[i] || !gatewayapi.Is(gvks[i]) {
			continue
		}
		o, err := gatewayapi.Parse(obj)
		if err != nil {
			return nil, &ObjectError{Index: i, Err: err}
		}
		apiObjects[i] = o
		index.AddShimCertificates(ctx, o, shimOpts)
	}

	// From here on the index is only read: what each object's checks and
	// plans need from it is computed on every CPU, then merged in order.
	res := &Result{Findings: misshapen, Refs: make([]finding.ObjectRef, len(effective))}
	if withObjects {
		res.Objects = make([]*unstructured.Unstructured, len(objs))
	}
	var meshCAs []meshCA
	add := func(i int, fs finding.Findings) {
		for _, f := range fs {
			res.Findings = append(res.Findings, ObjectFinding{Finding: f, Index: i})
		}
	}
	superseded := duplicates(effective, gvks, add)
	checked := make([]checkedObject, len(objs))
	parallel.ForEach(len(objs), objectChunk, func(i int) {
		obj := effective[i]
		res.Refs[i] = finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()}
		checked[i].tooLarge = tooLarge(objs[i])
		// Certificates' unknown fields, metadata's among them, are checked
		// against cert-manager's whole API below.
		isCertificate := certs.IsCertificate(gvks[i])
		checked[i].metadata = metadataFindings(obj, obj.GetNamespace() != "", isCertificate, unreadable[i])
		if superseded[i] || unreadable[i] {
			return
		}
		switch {
		case certs.IsGateway(gvks[i]):
			checked[i].gateway = planGateway(ctx, gateways[i], index, opts, withObjects)
		case isCertificate:
			checked[i].certificate = checkCertificate(ctx, obj, index, opts)
		}
	})
	for i := range objs {
		add(i, checked[i].tooLarge)
	}
	inputCertificates := map[string]int{}
	for i, obj := range effective {
		if certs.IsCertificate(gvks[i]) && !superseded[i] && !unreadable[i] {
			inputCertificates[obj.GetNamespace()+"/"+obj.GetName()] = i
		}
	}
	shimUpdates := map[int]shimUpdate{}
	for i := range effective {
		add(i, checked[i].metadata)
	}
	for i, obj := range effective {
		if withObjects {
			res.Objects[i] = objs[i]
		}
		if superseded[i] || unreadable[i] {
			// kubectl applies every copy in turn and the last one wins, so
			// only the last is planned; earlier copies are printed as given.
			continue
		}
		gvk := gvks[i]
		switch {
		case certs.IsGateway(gvk):
			planned := checked[i].gateway
			if planned.err != nil {
				return nil, &ObjectError{Index: i, Err: planned.err}
			}
			plan := planned.plan
			add(i, plan.Findings)
			res.Certificates = append(res.Certificates, plan.Certificates...)
			certified := make([]string, len(plan.Certificates))
			for j, crt := range plan.Certificates {
				certified[j] = crt.Namespace + "/" + crt.Spec.SecretName
			}
			res.Gateways = append(res.Gateways, GatewayPlan{Index: i, Managed: plan.Managed, CredentialNamespaces: plan.CredentialNamespaces, Certified: certified})
			if withObjects && planned.mutated != nil {
				mutated := planned.mutated
				if objs[i].GetNamespace() == "" {
					// Print what the user wrote, plus the injection only.
					mutated = &unstructured.Unstructured{Object: jsonvalue.WithoutNamespace(mutated.Object)}
				}
				res.Objects[i] = mutated
			}
		case certs.IsCertificate(gvk):
			if checked[i].certificate.err != nil {
				return nil, &ObjectError{Index: i, Err: checked[i].certificate.err}
			}
			add(i, checked[i].certificate.findings)
		case gatewayapi.Is(gvk):
			plan := gatewayapi.Plan(ctx, apiObjects[i], index, opts, shimOpts)
			add(i, plan.Findings)
			for _, crt := range plan.Certificates {
				// One of this name in the input is this object's (Plan
				// leaves out any other): the shim updates it in place, or
				// leaves it as it is, and creates none.
				j, exists := inputCertificates[crt.Namespace+"/"+crt.Name]
				if !exists {
					res.ShimCertificates = append(res.ShimCertificates, crt)
					continue
				}
				if existing, ok := index.Certificate(ctx, crt.Namespace, crt.Name); ok {
					if after, sync := plan.Update(existing, crt, shimOpts); sync != gatewayapi.ShimLeaves {
						shimUpdates[j] = shimUpdate{after, sync}
					}
				}
			}
		case gvk.Group == "" && gvk.Kind == "ConfigMap":
			// The index decoded it already; this copy is the one it holds.
			if cm, ok := index.TrustBundle(ctx, obj.GetNamespace(), obj.GetName()); ok {
				add(i, istiooperator.CheckMeshConfigMap(cm))
			}
		case gvk.Group == appsv1.GroupName && gvk.Kind == "Deployment" && strings.HasPrefix(obj.GetName(), "istiod"):
			// Only istiod's Deployment is decoded, not every workload's.
			d := &appsv1.Deployment{}
			if fromUnstructured(obj, d) == nil && istiooperator.IsIstiodDeployment(d) {
				mesh, _ := index.TrustBundle(ctx, d.Namespace, istiooperator.MeshConfigMapOf(d))
				add(i, istiooperator.CheckIstiodDeployment(d, mesh))
			}
		case istiooperator.Is(gvk):
			plan := istiooperator.PlanIstioOperator(ctx, obj, index, opts)
			add(i, plan.Findings)
			if plan.Certificate != nil {
				res.Certificates = append(res.Certificates, plan.Certificate)
				meshCAs = append(meshCAs, meshCA{index: i, obj: obj, certificate: plan.Certificate})
			}
			if mutated := plan.Mutated(); withObjects && mutated != nil {
				if objs[i].GetNamespace() == "" {
					mutated = &unstructured.Unstructured{Object: jsonvalue.WithoutNamespace(mutated.Object)}
				}
				res.Objects[i] = mutated
			}
		}
	}
	res.contestedMeshCAs(meshCAs, add)
	if withObjects {
		if err := res.updateShimCertificates(objs, shimUpdates); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]*cmapi.Certificate{res.Certificates, res.ShimCertificates} {
		slices.SortFunc(list, func(a, b *cmapi.Certificate) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
	}
	if err := res.replaceOwnCertificates(objs, effective, gvks, withObjects); err != nil {
		return nil, err
	}
	return res, nil
}

// checkedObject is what the second pass computes for one object before
// the results are merged in input order.
type checkedObject struct {
	tooLarge, metadata finding.Findings
	gateway            plannedGateway
	certificate        checkedCertificate
}

// plannedGateway is a Gateway's plan against the whole input, and the
// Gateway as inject prints it when the plan injects anything.
type plannedGateway struct {
	plan    *certs.GatewayPlan
	mutated *unstructured.Unstructured
	err     error
}

func planGateway(ctx context.Context, gw *certs.Gateway, index *Index, opts certs.Options, withObject bool) plannedGateway {
	plan := certs.PlanGateway(ctx, gw, index, opts)
	if len(plan.Injections) == 0 {
		return plannedGateway{plan: plan}
	}
	mutated, err := plan.Mutated()
	if !withObject {
		// Built all the same for its error: a Gateway inject cannot
		// mutate stops check as it stops inject.
		mutated = nil
	}
	return plannedGateway{plan: plan, mutated: mutated, err: err}
}

// checkedCertificate is the findings on a Certificate of the input.
type checkedCertificate struct {
	findings finding.Findings
	err      error
}

func checkCertificate(ctx context.Context, obj *unstructured.Unstructured, index *Index, opts certs.Options) checkedCertificate {
	crt, ok := index.Certificate(ctx, obj.GetNamespace(), obj.GetName())
	if !ok {
		return checkedCertificate{err: fmt.Errorf("failed to find Certificate %s/%s in the index", obj.GetNamespace(), obj.GetName())}
	}
	findings := certs.CheckCertificate(ctx, crt, index, opts)
	if raw, err := json.Marshal(obj.Object); err == nil {
		findings = append(findings, certs.UnknownCertificateFields(certs.CertificateRef(crt), raw)...)
	}
	if certs.IsManagedCertificate(crt) && !index.HasGateway(crt.Annotations[certs.AnnotationGateway]) {
		b := finding.New(certs.CertificateRef(crt))
		b.Warningf(finding.CodeOrphanCertificate, field.NewPath("metadata", "annotations").Key(certs.AnnotationGateway),
			"meshcert created this Certificate for Gateway %s, which the input does not hold; in the cluster meshcert deletes it once that Gateway is gone: remove it, or add the Gateway",
			crt.Annotations[certs.AnnotationGateway])
		findings = append(findings, b.Findings()...)
	}
	return checkedCertificate{findings: findings}
}

// objectChunk is how many objects a CPU takes at a time: each takes
// microseconds.
const objectChunk = 64

// duplicates finds objects the input holds more than once (same group,
// kind, namespace and name), reports each later copy and returns the
// indexes of the copies a later one supersedes.
func duplicates(objs []*unstructured.Unstructured, gvks []schema.GroupVersionKind, add func(int, finding.Findings)) []bool {
	type key struct{ group, kind, namespace, name string }
	last := make(map[key]int, len(objs))
	superseded := make([]bool, len(objs))
	for i, obj := range objs {
		if obj.GetName() == "" {
			continue
		}
		gvk := gvks[i]
		k := key{gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName()}
		if prev, ok := last[k]; ok {
			superseded[prev] = true
			b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
			b.Warningf(finding.CodeDuplicateObject, nil,
				"the input holds this %s more than once; kubectl applies every copy in turn and the last one wins, so meshcert plans only this last copy: keep one",
				gvk.Kind)
			add(i, b.Findings())
		}
		last[k] = i
	}
	return superseded
}

// MaxObjectBytes is the largest object the API server can store: etcd's
// default --max-request-bytes (1.5 MiB), which every Kubernetes
// distribution keeps or lowers.
const MaxObjectBytes = 3 << 19

// tooLarge reports an object larger than etcd stores. Only objects whose
// size could come near the limit are encoded to measure them: the rest are
// under it by an upper bound that allocates nothing.
func tooLarge(obj *unstructured.Unstructured) finding.Findings {
	if jsonSizeBound(obj.Object) <= MaxObjectBytes {
		return nil
	}
	data, err := json.Marshal(obj.Object)
	if err != nil || len(data) <= MaxObjectBytes {
		return nil
	}
	gvk := obj.GroupVersionKind()
	b := finding.New(finding.ObjectRef{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
	b.Errorf(finding.CodeObjectTooLarge, nil,
		"this %s is %.1f MiB, larger than the %.1f MiB etcd stores, so the API server refuses it: move large data elsewhere (a huge annotation, thousands of hosts or names)",
		gvk.Kind, float64(len(data))/(1<<20), float64(MaxObjectBytes)/(1<<20))
	return b.Findings()
}

// jsonSizeBound is at least the size of v encoded as JSON: a string may
// grow sixfold when escaped (\u00XX), a number takes at most 32 bytes.
func jsonSizeBound(v any) int {
	const quotesAndComma = 3
	switch t := v.(type) {
	case string:
		return 6*len(t) + quotesAndComma
	case map[string]any:
		n := 2
		for k, e := range t {
			n += 6*len(k) + quotesAndComma + 1 + jsonSizeBound(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range t {
			n += jsonSizeBound(e) + 1
		}
		return n
	default:
		return 32
	}
}

// replaceOwnCertificates puts desired Certificates in the place of the
// meshcert Certificates of the same name in the input (withObjects: into
// res.Objects; else they are only taken out of res.Certificates). The
// objects are built on every CPU; the first error in input order is the
// one reported.
func (res *Result) replaceOwnCertificates(objs, effective []*unstructured.Unstructured, gvks []schema.GroupVersionKind, withObjects bool) error {
	desired := map[string]*cmapi.Certificate{}
	for _, crt := range res.Certificates {
		desired[crt.Namespace+"/"+crt.Name] = crt
	}
	type replacement struct {
		index int
		crt   *cmapi.Certificate
		obj   *unstructured.Unstructured
		err   error
	}
	var replacements []replacement
	for i, obj := range effective {
		if !certs.IsCertificate(gvks[i]) || !certs.ManagedByMeshcert(obj) {
			continue
		}
		key := obj.GetNamespace() + "/" + obj.GetName()
		crt, ok := desired[key]
		if !ok {
			continue
		}
		replacements = append(replacements, replacement{index: i, crt: crt})
		delete(desired, key)
	}
	if !withObjects {
		replacements = nil
	}
	parallel.ForEach(len(replacements), objectChunk, func(j int) {
		r := &replacements[j]
		r.obj, r.err = certs.CertificateObject(r.crt)
		if r.err == nil && reflect.DeepEqual(r.obj.Object, objs[r.index].Object) {
			// The input is what meshcert wants already (a repository that
			// commits inject's output): it prints the same, and keeping it
			// spares holding a second copy of every Certificate.
			r.obj = objs[r.index]
		}
	})
	for _, r := range replacements {
		if r.err != nil {
			return &ObjectError{Index: r.index, Err: r.err}
		}
		res.Objects[r.index] = r.obj
	}
	res.Certificates = slices.DeleteFunc(res.Certificates, func(crt *cmapi.Certificate) bool {
		return desired[crt.Namespace+"/"+crt.Name] == nil
	})
	return nil
}

// shimUpdate is what the shim makes of a Certificate of the input.
type shimUpdate struct {
	certificate *cmapi.Certificate
	sync        gatewayapi.ShimSync
}

// updateShimCertificates puts what the shim makes of a Certificate of the
// input in its place: the input with the spec, labels and annotations the
// shim updates it to, or the Certificate it creates anew; with no
// namespace where the input has none.
func (res *Result) updateShimCertificates(objs []*unstructured.Unstructured, updates map[int]shimUpdate) error {
	for i, update := range updates {
		u, err := certs.CertificateObject(update.certificate)
		if err != nil {
			return &ObjectError{Index: i, Err: err}
		}
		if update.sync == gatewayapi.ShimUpdates {
			updated := objs[i].DeepCopy()
			updated.Object["spec"] = u.Object["spec"]
			updated.SetLabels(update.certificate.Labels)
			updated.SetAnnotations(update.certificate.Annotations)
			u = updated
		} else if objs[i].GetNamespace() == "" {
			u = &unstructured.Unstructured{Object: jsonvalue.WithoutNamespace(u.Object)}
		}
		res.Objects[i] = u
	}
	return nil
}

// claimedSince dates a planned Certificate for the index, so later
// Gateways are judged against when its Secret was claimed: the stored copy's
// creationTimestamp when the input holds it, else its Gateway's. The
// planned Certificate itself, which inject prints, stays undated.
func claimedSince(ctx context.Context, index *Index, crt *cmapi.Certificate, gatewayCreated time.Time) *cmapi.Certificate {
	if !crt.CreationTimestamp.IsZero() {
		return crt
	}
	dated := *crt
	dated.CreationTimestamp = metav1.NewTime(gatewayCreated)
	if stored, ok := index.Certificate(ctx, crt.Namespace, crt.Name); ok && !stored.CreationTimestamp.IsZero() {
		dated.CreationTimestamp = stored.CreationTimestamp
	}
	return &dated
}
