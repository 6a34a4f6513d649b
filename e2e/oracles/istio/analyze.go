package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/config/schema/gvk"
)

type analyzeOptions struct {
	namespace      string
	istioNamespace string
	meshConfig     string
	allKinds       bool
	istioctl       bool
}

// finding is one analyzer message.
type finding struct {
	Code     string      `json:"code"`
	Level    string      `json:"level"`
	Resource *resourceID `json:"resource"`
	Message  string      `json:"message"`
	// Origin and Reference are what `istioctl analyze -o json` prints:
	// "Gateway ns/name" and "file:line".
	Origin    string `json:"origin,omitempty"`
	Reference string `json:"reference,omitempty"`
}

type resourceID struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// analyze runs every analyzer of `istioctl analyze` (analyzers.AllCombined)
// on the files with the analyzer istioctl builds. Unless opts.istioctl is
// set, it differs from `istioctl analyze --use-kube=false` on purpose:
//   - files go in through AddTestReaderKubeSource, not AddReaderKubeSource,
//     which drops Pods, Secrets, Services, Namespaces and Nodes from files; with
//     them dropped the gateway analyzers that need Pods or Secrets (selector
//     and credentialName lookups, conflicting Gateways) are skipped;
//   - no AddDefaultResources: its dummy istio-ingressgateway Pod is dropped by
//     istioctl's reader anyway, and kept here it would answer for selectors the
//     input does not satisfy.
//
// Messages are sorted and deduplicated by Istio (SortedDedupedCopy).
func analyze(inputs []input, opts analyzeOptions, out *json.Encoder, stderr io.Writer) error {
	sa := local.NewSourceAnalyzer(analyzers.AllCombined(),
		resource.Namespace(opts.namespace), resource.Namespace(opts.istioNamespace), nil)
	if opts.meshConfig != "" {
		if err := sa.AddFileKubeMeshConfig(opts.meshConfig); err != nil {
			return fmt.Errorf("failed to read mesh config: %w", err)
		}
	}
	readers := make([]local.ReaderSource, 0, len(inputs))
	for _, in := range inputs {
		readers = append(readers, local.ReaderSource{Name: in.name, Reader: bytes.NewReader(in.data)})
	}
	// Unknown kinds are skipped silently; what is left is input Istio could
	// not parse, and an oracle that half-read its input would mislead.
	if opts.istioctl {
		// The first reader fixes the source's kinds, so defaults go first, as in istioctl.
		if err := sa.AddDefaultResources(); err != nil {
			return fmt.Errorf("failed to add Istio's default resources: %w", err)
		}
		if err := sa.AddReaderKubeSource(readers); err != nil {
			return fmt.Errorf("failed to add files: %w", err)
		}
	} else if err := sa.AddTestReaderKubeSource(readers); err != nil {
		return fmt.Errorf("failed to add files: %w", err)
	}
	cancel := make(chan struct{})
	defer close(cancel)
	result, err := sa.Analyze(cancel)
	if err != nil {
		return fmt.Errorf("failed to analyze: %w", err)
	}
	// An analyzer whose input kinds no source provides is skipped silently;
	// say so, since its silence is not a verdict.
	if len(result.SkippedAnalyzers) > 0 {
		fmt.Fprintf(stderr, "istio-oracle: skipped analyzers (input kinds missing): %s\n", strings.Join(result.SkippedAnalyzers, ", "))
	}
	for _, m := range result.Messages {
		if !opts.allKinds && !aboutGateway(m) {
			continue
		}
		if err := out.Encode(toFinding(m)); err != nil {
			return fmt.Errorf("failed to write finding: %w", err)
		}
	}
	return nil
}

func aboutGateway(m diag.Message) bool {
	if m.Resource == nil || m.Resource.Metadata.Schema == nil {
		return false
	}
	s := m.Resource.Metadata.Schema
	return s.Group() == gvk.Gateway.Group && s.Kind() == gvk.Gateway.Kind
}

func toFinding(m diag.Message) finding {
	// Unstructured formats message, origin and reference as istioctl prints them.
	u := m.Unstructured(true)
	f := finding{Code: m.Type.Code(), Level: m.Type.Level().String()}
	f.Message, _ = u["message"].(string)
	f.Origin, _ = u["origin"].(string)
	f.Reference, _ = u["reference"].(string)
	if r := m.Resource; r != nil {
		f.Resource = &resourceID{
			Namespace: r.Metadata.FullName.Namespace.String(),
			Name:      r.Metadata.FullName.Name.String(),
		}
		if r.Metadata.Schema != nil {
			f.Resource.Kind = r.Metadata.Schema.Kind()
		}
	}
	return f
}
