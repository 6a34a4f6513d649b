// Command certmanager-oracle runs cert-manager's own Certificate validation
// (internal/apis/certmanager/validation) on the Certificates of a YAML or
// JSON stream, for meshcert's differential tests.
//
//	certmanager-oracle [FILES...]                  (stdin when none)
//	certmanager-oracle shim [--settle] [FILES...]  (shim.go: cert-manager's gateway-shim)
//
// The validation package is internal to cert-manager's root module, so this
// file cannot build where it is kept: oracle.mk copies the module source
// from the module cache, adds this file as meshcert-oracle/main.go inside
// it and builds it there with the module's own go.mod and go.sum. The
// directory's leading underscore keeps the Go tools of the e2e module away
// from it.
//
// Each Certificate goes the way cert-manager's webhook takes an admission
// request (pkg/webhook/admission custom_decoder.go and the
// resourcevalidation handler): the universal deserializer, an unsafe
// conversion to the internal version, then ValidateCertificate. One JSON
// line per Certificate: {"namespace","name","valid","errors","warnings"}.
// Objects of other kinds are skipped. Exit 0 when every Certificate was
// judged, whatever the verdicts; 2 when the input cannot be read.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/cert-manager/cert-manager/internal/apis/certmanager"
	"github.com/cert-manager/cert-manager/internal/apis/certmanager/install"
	"github.com/cert-manager/cert-manager/internal/apis/certmanager/validation"
)

type verdict struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Valid     bool     `json:"valid"`
	Errors    []string `json:"errors,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

func main() {
	run := run
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "shim" {
		run, args = runShim, args[1:]
	}
	if err := run(args, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "certmanager-oracle:", err)
		os.Exit(2)
	}
}

func run(files []string, stdin io.Reader, stdout io.Writer) error {
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
	for _, raw := range docs {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("failed to read apiVersion and kind: %w", err)
		}
		if meta.APIVersion != "cert-manager.io/v1" || meta.Kind != "Certificate" {
			continue
		}
		if err := enc.Encode(judge(scheme, codecs, raw)); err != nil {
			return fmt.Errorf("failed to write a verdict: %w", err)
		}
	}
	return nil
}

func judge(scheme *runtime.Scheme, codecs serializer.CodecFactory, raw []byte) verdict {
	obj, _, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		return verdict{Errors: []string{"decode: " + err.Error()}}
	}
	internal, err := scheme.UnsafeConvertToVersion(obj, runtime.InternalGroupVersioner)
	if err != nil {
		return verdict{Errors: []string{"convert: " + err.Error()}}
	}
	crt, ok := internal.(*certmanager.Certificate)
	if !ok {
		return verdict{Errors: []string{fmt.Sprintf("convert: got %T", internal)}}
	}
	v := verdict{Namespace: crt.Namespace, Name: crt.Name}
	errs, warnings := validation.ValidateCertificate(&admissionv1.AdmissionRequest{Operation: admissionv1.Create}, crt)
	for _, e := range errs {
		v.Errors = append(v.Errors, e.Error())
	}
	v.Warnings = warnings
	v.Valid = len(errs) == 0
	return v
}
