package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshcert/meshcert/finding"
)

// What reaches the gateway: its Service's ports, and a hand-made Secret
// istiod can serve. Both mirror istioctl analyze's gateway analyzers
// (pkg/config/analysis/analyzers/gateway: IST0162 and IST0161) on the
// objects the lookup holds.

// checkServicePorts reports a server on a port no Service of the Gateway's
// workloads exposes (IST0162): traffic to the Service never reaches it. A
// Service exposes its targetPort (its port when the targetPort is named or
// unset), and any Service selecting the workload's Pods counts. Said only
// where such a Service is known: without one the port may still be reached
// otherwise (a host port, a load balancer of its own).
func checkServicePorts(ctx context.Context, b *finding.Builder, gw *Gateway, wl workloadsOf, lookup Lookup) {
	if !wl.known || len(wl.workloads) == 0 {
		return
	}
	exposed := map[int64]bool{}
	selected := false
	for _, w := range wl.workloads {
		services, known := lookup.Services(ctx, w.Namespace)
		if !known {
			return
		}
		for _, svc := range services {
			// A Service without a selector has Endpoints of its own.
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Labels)) {
				continue
			}
			selected = true
			for _, p := range svc.Spec.Ports {
				if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
					continue
				}
				exposed[int64(p.Port)] = true
				if tp := p.TargetPort.IntValue(); tp != 0 {
					exposed[int64(tp)] = true
				}
			}
		}
	}
	if !selected {
		return
	}
	for _, srv := range gw.Servers {
		if !srv.HasPort || srv.Port.Number == 0 || exposed[srv.Port.Number] {
			continue
		}
		b.Warningf(finding.CodePortNotOnService, serverPath(srv.Index).Child("port", "number"),
			"no Service of the gateway workload exposes port %d (Istio's IST0162), so traffic through the Service never reaches this server: add the port to the gateway's Service (as targetPort %d), or listen on a port it exposes",
			srv.Port.Number, srv.Port.Number)
	}
}

// credentialProblem says why istiod cannot serve a Secret as a server
// certificate, as its analyzer and SDS judge it (kube.ExtractCertInfo, then
// xds.ValidateCertificate on the first PEM block): no certificate and key
// under cert/key or tls.crt/tls.key, a certificate that does not parse, or
// one outside its validity. "" when it can.
func credentialProblem(secret *corev1.Secret, now time.Time) string {
	var crt []byte
	switch d := secret.Data; {
	case len(d["cert"]) > 0 && len(d["key"]) > 0:
		crt = d["cert"]
	case len(d[corev1.TLSCertKey]) > 0 && len(d[corev1.TLSPrivateKeyKey]) > 0:
		crt = d[corev1.TLSCertKey]
	default:
		return "it has no certificate and key under tls.crt and tls.key (or cert and key)"
	}
	block, _ := pem.Decode(crt)
	if block == nil {
		return "its certificate is not PEM"
	}
	certificates, err := x509.ParseCertificates(block.Bytes)
	if err != nil {
		return "its certificate does not parse: " + err.Error()
	}
	for _, c := range certificates {
		if now.After(c.NotAfter) || now.Before(c.NotBefore) {
			return "its certificate is valid only from " + c.NotBefore.UTC().Format(time.RFC3339) + " to " + c.NotAfter.UTC().Format(time.RFC3339)
		}
	}
	return ""
}
