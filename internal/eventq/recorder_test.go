package eventq

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
)

// fakeEvents records the Events created through it; failures, if set,
// answers the first creates with those errors.
type fakeEvents struct {
	eventsv1client.EventInterface
	mu       sync.Mutex
	created  []*eventsv1.Event
	calls    int
	failures []error
}

func (f *fakeEvents) Events(string) eventsv1client.EventInterface { return f }

func (f *fakeEvents) Create(_ context.Context, ev *eventsv1.Event, _ metav1.CreateOptions) (*eventsv1.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		return nil, err
	}
	f.created = append(f.created, ev)
	return ev, nil
}

func (f *fakeEvents) snapshot() (created []*eventsv1.Event, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*eventsv1.Event(nil), f.created...), f.calls
}

var (
	gateway = &corev1.Pod{ // any namespaced object the scheme knows
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "shop", UID: "uid-shop"},
	}
	node = &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "uid-node"},
	}
	secret = &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "shop-tls", UID: "uid-secret"},
	}
)

// newTestRecorder returns a recorder over a fake client with a settable
// clock; it is not started.
func newTestRecorder(t *testing.T, opts Options) (*Recorder, *fakeEvents, *time.Time) {
	t.Helper()
	fake := &fakeEvents{}
	r := New(fake, clientgoscheme.Scheme, "meshcert", logr.Discard(), opts)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	return r, fake, &now
}

// drain writes everything queued, as Start would.
func drain(t *testing.T, r *Recorder) {
	t.Helper()
	for {
		select {
		case ev := <-r.queue:
			r.write(t.Context(), ev)
		default:
			return
		}
	}
}

func TestEventsAreMadeAsClientGoMakesThem(t *testing.T) {
	tests := []struct {
		name          string
		regarding     runtime.Object
		related       runtime.Object
		wantNamespace string
	}{
		{
			name:          "a namespaced object's Event lives in its namespace and names the related object",
			regarding:     gateway,
			related:       secret,
			wantNamespace: "team-a",
		},
		{
			name:          "a cluster-scoped object's Event lives in the default namespace",
			regarding:     node,
			wantNamespace: metav1.NamespaceDefault,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake, now := newTestRecorder(t, Options{})
			r.Eventf(tt.regarding, tt.related, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created %s", "it")
			drain(t, r)
			created, _ := fake.snapshot()
			require.Len(t, created, 1)
			ev := created[0]
			regarding := tt.regarding.(metav1.Object)
			assert.Equal(t, tt.wantNamespace, ev.Namespace)
			assert.True(t, strings.HasPrefix(ev.Name, regarding.GetName()+"."), "name %q", ev.Name)
			assert.Equal(t, regarding.GetName(), ev.Regarding.Name)
			assert.Equal(t, regarding.GetUID(), ev.Regarding.UID)
			assert.Equal(t, tt.regarding.GetObjectKind().GroupVersionKind().Kind, ev.Regarding.Kind)
			if tt.related != nil {
				require.NotNil(t, ev.Related)
				assert.Equal(t, "shop-tls", ev.Related.Name)
			} else {
				assert.Nil(t, ev.Related)
			}
			assert.Equal(t, "Created it", ev.Note)
			assert.Equal(t, corev1.EventTypeNormal, ev.Type)
			assert.Equal(t, "CreateCertificate", ev.Reason)
			assert.Equal(t, "Create", ev.Action)
			assert.Equal(t, "meshcert", ev.ReportingController)
			assert.True(t, strings.HasPrefix(ev.ReportingInstance, "meshcert-"), ev.ReportingInstance)
			assert.True(t, ev.EventTime.Time.Equal(*now))
		})
	}
}

func TestRepeatsAreSentOncePerWindow(t *testing.T) {
	tests := []struct {
		name     string
		second   func(r *Recorder, now *time.Time)
		wantSent int
	}{
		{
			name: "the same Event again within the window is not sent",
			second: func(r *Recorder, now *time.Time) {
				*now = now.Add(time.Minute)
				r.Eventf(gateway, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "MC1001 wrong")
			},
			wantSent: 1,
		},
		{
			name: "the same Event after the window is sent again",
			second: func(r *Recorder, now *time.Time) {
				*now = now.Add(DefaultRepeatWindow)
				r.Eventf(gateway, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "MC1001 wrong")
			},
			wantSent: 2,
		},
		{
			name: "another note is another Event",
			second: func(r *Recorder, _ *time.Time) {
				r.Eventf(gateway, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "MC1002 also wrong")
			},
			wantSent: 2,
		},
		{
			name: "another object is another Event",
			second: func(r *Recorder, _ *time.Time) {
				r.Eventf(node, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "MC1001 wrong")
			},
			wantSent: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake, now := newTestRecorder(t, Options{})
			r.Eventf(gateway, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "MC1001 wrong")
			tt.second(r, now)
			drain(t, r)
			created, _ := fake.snapshot()
			assert.Len(t, created, tt.wantSent)
		})
	}
}

func TestAFullQueueDropsAndCounts(t *testing.T) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	r, fake, _ := newTestRecorder(t, Options{QueueSize: 2, Dropped: dropped})
	for i := range 5 {
		// Eventf must return at once although nothing writes.
		r.Eventf(gateway, nil, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created %d", i)
	}
	assert.InDelta(t, 3, testutil.ToFloat64(dropped), 0)
	drain(t, r)
	created, _ := fake.snapshot()
	require.Len(t, created, 2)
	assert.Equal(t, "Created 0", created[0].Note, "the queue keeps the first Events, in order")
	assert.Equal(t, "Created 1", created[1].Note)

	// A dropped Event was never sent, so it is not a repeat.
	r.Eventf(gateway, nil, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created %d", 4)
	drain(t, r)
	created, _ = fake.snapshot()
	assert.Len(t, created, 3)
}

func TestLongNotesAreCutToTheAPIServersLimit(t *testing.T) {
	tests := []struct {
		name string
		note string
	}{
		{name: "an ASCII note", note: strings.Repeat("MC1001 wrong; ", 200)},
		{name: "a note cut inside a multi-byte character", note: strings.Repeat("é", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake, _ := newTestRecorder(t, Options{})
			r.Eventf(gateway, nil, corev1.EventTypeWarning, "BadConfig", "Plan", "%s", tt.note)
			drain(t, r)
			created, _ := fake.snapshot()
			require.Len(t, created, 1)
			note := created[0].Note
			assert.LessOrEqual(t, len(note), NoteLimit)
			assert.Greater(t, len(note), NoteLimit-8, "cut near the limit, not far before it")
			assert.True(t, utf8.ValidString(note), "cut on a character boundary")
			assert.True(t, strings.HasSuffix(note, "…"), "the cut is marked")
		})
	}
	t.Run("a note at the limit is kept whole", func(t *testing.T) {
		note := strings.Repeat("a", NoteLimit)
		assert.Equal(t, note, truncate(note, NoteLimit))
	})
}

func TestWritesRetryOnlyWhatMaySucceed(t *testing.T) {
	gr := schema.GroupResource{Group: "events.k8s.io", Resource: "events"}
	tests := []struct {
		name      string
		failures  []error
		wantCalls int
		wantSent  int
	}{
		{
			name:      "an unreachable API server is tried again",
			failures:  []error{errors.New("connection refused")},
			wantCalls: 2,
			wantSent:  1,
		},
		{
			name:      "a busy API server is tried again",
			failures:  []error{apierrors.NewTooManyRequests("busy", 1), apierrors.NewServerTimeout(gr, "create", 1)},
			wantCalls: 3,
			wantSent:  1,
		},
		{
			name:      "an Event the API server rejects is dropped",
			failures:  []error{apierrors.NewForbidden(gr, "x", errors.New("namespace is terminating"))},
			wantCalls: 1,
			wantSent:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake, _ := newTestRecorder(t, Options{})
			fake.failures = tt.failures
			r.Eventf(gateway, nil, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created")
			drain(t, r)
			created, calls := fake.snapshot()
			assert.Equal(t, tt.wantCalls, calls)
			assert.Len(t, created, tt.wantSent)
		})
	}
}

func TestUnknownObjectsAndTypesAreNotRecorded(t *testing.T) {
	r, fake, _ := newTestRecorder(t, Options{})
	type notInScheme struct{ corev1.Pod }
	r.Eventf(&notInScheme{}, nil, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created")
	r.Eventf(gateway, nil, "Loud", "CreateCertificate", "Create", "Created")
	drain(t, r)
	created, calls := fake.snapshot()
	assert.Empty(t, created)
	assert.Zero(t, calls)
}

func TestStartWritesUntilTheContextEnds(t *testing.T) {
	r, fake, _ := newTestRecorder(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	r.Eventf(gateway, nil, corev1.EventTypeNormal, "CreateCertificate", "Create", "Created")
	assert.Eventually(t, func() bool {
		created, _ := fake.snapshot()
		return len(created) == 1
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	assert.False(t, r.NeedLeaderElection(), "every replica may record Events")
}
