package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"istio.io/istio/pilot/pkg/config/file/util/kubeyaml"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/validation"
)

// verdict is Istio's judgement of one Gateway.
type verdict struct {
	File string `json:"file"`
	// Index counts the objects of the file from 0, List items expanded and
	// empty documents skipped, as meshcert's manifest.Decode does.
	Index     int      `json:"index"`
	Line      int      `json:"line"` // where the document starts (a List item: its List)
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Valid     bool     `json:"valid"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
}

// object is the part of a manifest the validation needs; the spec stays raw
// so that Istio's strict decoder sees it as written.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec  json.RawMessage   `json:"spec"`
	Items []json.RawMessage `json:"items"`
}

func validate(inputs []input, defaultNamespace string, out *json.Encoder) error {
	for _, in := range inputs {
		objs, err := decode(in)
		if err != nil {
			return err
		}
		for i, o := range objs {
			v, ok := validateGateway(o.obj, defaultNamespace)
			if !ok {
				continue
			}
			v.File, v.Index, v.Line = in.name, i, o.line
			if err := out.Encode(v); err != nil {
				return fmt.Errorf("failed to write verdict: %w", err)
			}
		}
	}
	return nil
}

// validateStream judges one JSON object per input line and answers each
// line with exactly one verdict line, flushed at once, so one oracle
// process can serve a caller through many inputs (the e2e fuzz target).
// A line that is not an Istio Gateway gets an invalid verdict saying so.
func validateStream(in io.Reader, w io.Writer, defaultNamespace string) error {
	index := -1
	return streamLines(in, w, false, func(line []byte) any {
		index++
		v := verdict{File: "-", Index: index}
		var o object
		if err := json.Unmarshal(line, &o); err != nil {
			v.Errors = []string{"not a JSON object: " + err.Error()}
		} else if judged, ok := validateGateway(o, defaultNamespace); ok {
			judged.File, judged.Index = v.File, index
			v = judged
		} else {
			v.Errors = []string{"not an Istio Gateway"}
		}
		return v
	})
}

// streamLines answers every line of in (blank ones too, unless skipBlank)
// with one JSON line on w, flushed at once, so one oracle process can serve
// a caller through many inputs.
func streamLines(in io.Reader, w io.Writer, skipBlank bool, answer func(line []byte) any) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		if skipBlank && len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := enc.Encode(answer(sc.Bytes())); err != nil {
			return fmt.Errorf("failed to write verdict: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("failed to write verdict: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("failed to read stdin: %w", err)
	}
	return nil
}

type located struct {
	obj  object
	line int
}

// decode splits a file into objects with Istio's own YAML document reader
// (the one its file sources use). Duplicate keys are an error, as in
// `istioctl validate`, which decodes with yaml.UnmarshalStrict.
func decode(in input) ([]located, error) {
	var objs []located
	r := kubeyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(in.data)))
	for {
		doc, line, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read %s:%d: %w", in.name, line, err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("failed to decode %s:%d: %w", in.name, line, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue // empty or comment-only document
		}
		var o object
		if err := json.Unmarshal(js, &o); err != nil {
			return nil, fmt.Errorf("failed to decode %s:%d: %w", in.name, line, err)
		}
		if o.Kind != "List" {
			objs = append(objs, located{o, line})
			continue
		}
		for i, item := range o.Items {
			var it object
			if err := json.Unmarshal(item, &it); err != nil {
				return nil, fmt.Errorf("failed to decode %s:%d: List item %d: %w", in.name, line, i, err)
			}
			objs = append(objs, located{it, line})
		}
	}
}

// validateGateway mirrors `istioctl validate` for one object: strict decoding
// of the spec into the schema's proto (networking v1alpha3 Gateway for every
// served version), then validation.ValidateGateway. ok is false for anything
// that is not a networking.istio.io Gateway.
func validateGateway(o object, defaultNamespace string) (v verdict, ok bool) {
	group, version, found := strings.Cut(o.APIVersion, "/")
	if !found {
		return v, false
	}
	s, found := collections.Pilot.FindByGroupVersionAliasesKind(config.GroupVersionKind{Group: group, Version: version, Kind: o.Kind})
	if !found || s.GroupVersionKind() != gvk.Gateway {
		return v, false
	}
	v.Name, v.Namespace = o.Metadata.Name, o.Metadata.Namespace
	if v.Namespace == "" {
		v.Namespace = defaultNamespace
	}
	v.Errors, v.Warnings = []string{}, []string{}

	spec, err := s.NewInstance()
	if err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("failed to create a %s: %v", s.Kind(), err))
		return v, true
	}
	// istioctl marshals a missing spec as null; so do we.
	js := string(o.Spec)
	if js == "" {
		js = "null"
	}
	if err := config.ApplyJSONStrict(spec, js); err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("cannot parse proto message: %v", err))
		return v, true
	}
	warning, err := validation.ValidateGateway(config.Config{
		Meta: config.Meta{
			GroupVersionKind: s.GroupVersionKind(),
			Name:             v.Name,
			Namespace:        v.Namespace,
			Labels:           o.Metadata.Labels,
			Annotations:      o.Metadata.Annotations,
		},
		Spec: spec,
	})
	v.Errors = append(v.Errors, split(err)...)
	v.Warnings = append(v.Warnings, split(warning)...)
	v.Valid = len(v.Errors) == 0
	return v, true
}

// split lists the individual messages of an error Istio built by appending:
// hashicorp/go-multierror (WrappedErrors) or errors.Join (Unwrap []error).
func split(err error) []string {
	if err == nil {
		return nil
	}
	// The error itself is the list; wrapping a list would hide its
	// messages' order, so only the outermost error is looked at.
	var inner []error
	switch e := err.(type) { //nolint:errorlint // A list is never wrapped here; see above.
	case interface{ WrappedErrors() []error }:
		inner = e.WrappedErrors()
	case interface{ Unwrap() []error }:
		inner = e.Unwrap()
	default:
		return []string{err.Error()}
	}
	var msgs []string
	for _, e := range inner {
		msgs = append(msgs, split(e)...)
	}
	return msgs
}
