package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// maxReviewSize is the largest AdmissionReview read, controller-runtime's
// limit: the API server's own limit on a request body is 3 MiB, and a
// review carries the object and its old version.
const maxReviewSize = 7 << 20

// presizeLimit is the most of a declared Content-Length the body buffer is
// allocated for before the bytes arrive; a review with a 100-server
// Gateway and its old object fits.
const presizeLimit = 128 << 10

// servedReviewVersions are the AdmissionReview versions the API server
// sends, which this handler answers itself.
var servedReviewVersions = map[string]bool{"admission.k8s.io/v1": true, "admission.k8s.io/v1beta1": true}

// replayReader returns data, then err (io.EOF for a read that ended
// well): with the read that returns data's last bytes, and on every read
// after.
type replayReader struct {
	data []byte
	err  error
}

func (r *replayReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

// reviewServer serves a handler of unstructured objects (the Gateway
// webhooks) over HTTP as controller-runtime's admission.Webhook does, with
// one difference: the review is decoded in one pass, the object and its old
// version straight into the maps the handler reads. controller-runtime
// reads the body twice (once for its kind), copies the object's bytes and
// leaves the handler to decode them again, which cost a fifth of the CPU of
// an admission of a large Gateway. Handlers receive the decoded object in
// the request's RawExtension.Object (see decodeStrictFor), Raw left empty.
//
// A request it cannot read that way (not JSON, another content type, an
// object that does not decode, too large) goes to controller-runtime's
// webhook serving the same handler, so every answer is the one that webhook
// gives (TestReviewServerAnswersAsControllerRuntime, FuzzReviewServer).
type reviewServer struct {
	handler  admission.Handler
	fallback http.Handler
	log      logr.Logger
}

func newReviewServer(h admission.Handler) *reviewServer {
	return &reviewServer{
		handler:  h,
		fallback: &admission.Webhook{Handler: h, LogConstructor: logConstructor},
		// The logger controller-runtime's admission.Webhook gives its handlers.
		log: logf.Log.WithName("admission"),
	}
}

// review is an AdmissionReview, v1 or v1beta1 (the same shape), whose
// request carries its objects decoded.
type review struct {
	metav1.TypeMeta `json:",inline"`
	Request         *reviewRequest `json:"request"`
}

// reviewRequest is an AdmissionRequest whose object and oldObject are
// decoded with it: these fields hide the embedded request's raw ones,
// being less deep. They take any JSON value, so that one that is not an
// object is refused by the handler, as behind controller-runtime's webhook
// (see decodedExtension).
type reviewRequest struct {
	admissionv1.AdmissionRequest
	Object    any `json:"object"`
	OldObject any `json:"oldObject"`
}

// ServeHTTP implements http.Handler.
func (s *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	version, req, ok := s.read(r)
	if !ok {
		s.fallback.ServeHTTP(w, r)
		return
	}
	ctx := logf.IntoContext(r.Context(), s.log)
	resp := s.handle(ctx, req)
	if patch, ok := encodePatches(resp.Patches); ok {
		// What Complete would encode, without encoding/json's reflection
		// and second compacting pass (a sixth of a 100-server mutation).
		patchType := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType, resp.Patches = patch, &patchType, nil
	}
	if err := resp.Complete(req); err != nil {
		s.log.Error(err, "Failed to complete the admission response")
		resp = admission.Errored(http.StatusInternalServerError, errors.New("unable to encode response"))
		resp.UID = req.UID
	}
	out := admissionv1.AdmissionReview{TypeMeta: version, Response: &resp.AdmissionResponse}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.log.Error(err, "Failed to write the admission response")
	}
}

// handle is the handler's answer to req; a panic is answered as
// controller-runtime's webhook answers it: an error with the request's UID.
func (s *reviewServer) handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if r := recover(); r != nil {
			for _, fn := range utilruntime.PanicHandlers {
				fn(ctx, r)
			}
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", r))
			resp.UID = req.UID
		}
	}()
	return s.handler.Handle(ctx, req)
}

// read decodes the review of r and the version to answer in (the review's
// own, v1 when it names none). When it cannot, ok is false and r's body is
// as it was, for the fallback to read.
func (s *reviewServer) read(r *http.Request) (version metav1.TypeMeta, req admission.Request, ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Content-Type") != "application/json" {
		return version, req, false
	}
	limited := &io.LimitedReader{R: r.Body, N: maxReviewSize}
	// Sized by Content-Length, the body of a usual review is read into one
	// buffer: growing one from 512 bytes copied a 100-server review's 60 KB
	// seven times. Only up to presizeLimit: a client declaring 7 MiB and
	// sending nothing must not make the server hold 7 MiB.
	size := int64(bytes.MinRead)
	if r.ContentLength > 0 {
		size += min(r.ContentLength, presizeLimit)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(limited)
	body := buf.Bytes()
	_ = r.Body.Close()
	// The fallback reads what was read and how the read ended, with its
	// last bytes, as this read did (so an error with the bytes that reach
	// the limit stays an error), and answers as it would have.
	r.Body = io.NopCloser(&replayReader{data: body, err: cmp.Or(err, io.EOF)})
	// A body that reaches the limit is too large, as controller-runtime
	// counts.
	if err != nil || len(body) == 0 || limited.N <= 0 {
		return version, req, false
	}
	var rev review
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &rev); err != nil {
		return version, req, false
	}
	if !servedReviewVersions[rev.APIVersion] || rev.Kind != "AdmissionReview" {
		// The API server sends these; controller-runtime's decoder fills
		// in, normalises ("/v1") or refuses ("a/b/c") anything else.
		return version, req, false
	}
	version = rev.TypeMeta
	if rev.Request == nil {
		// As controller-runtime hands its handlers an empty request.
		return version, req, true
	}
	req = admission.Request{AdmissionRequest: rev.Request.AdmissionRequest}
	req.Object = decodedExtension(rev.Request.Object)
	req.OldObject = decodedExtension(rev.Request.OldObject)
	return version, req, true
}

// decodedExtension carries a decoded JSON object to the handler. Anything
// else (rare, hostile) goes back to bytes, for the handler to refuse as it
// refuses those bytes from controller-runtime's webhook.
func decodedExtension(v any) runtime.RawExtension {
	switch o := v.(type) {
	case nil:
		return runtime.RawExtension{}
	case map[string]any:
		return runtime.RawExtension{Object: &unstructured.Unstructured{Object: o}}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		// A value just decoded from JSON encodes; if not, it reads as no object.
		return runtime.RawExtension{}
	}
	return runtime.RawExtension{Raw: raw}
}

// encodePatches is json.Marshal(ops) for what a Gateway mutation patches:
// operations whose value is a string, with every string plain ASCII that
// encoding/json writes as it is. ok is false for anything else, which
// Complete then encodes.
func encodePatches(ops []jsonpatch.JsonPatchOperation) (out []byte, ok bool) {
	if len(ops) == 0 {
		return nil, false
	}
	out = append(make([]byte, 0, 96*len(ops)), '[')
	for i, op := range ops {
		value, isString := op.Value.(string)
		if !isString || !plainJSON(op.Operation) || !plainJSON(op.Path) || !plainJSON(value) {
			return nil, false
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"op":"`...)
		out = append(out, op.Operation...)
		out = append(out, `","path":"`...)
		out = append(out, op.Path...)
		out = append(out, `","value":"`...)
		out = append(out, value...)
		out = append(out, `"}`...)
	}
	return append(out, ']'), true
}

// plainJSON reports whether encoding/json writes s between quotes as it is:
// printable ASCII without quotes, backslashes or the characters it escapes
// for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
