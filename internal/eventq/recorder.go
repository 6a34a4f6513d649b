// Package eventq records Kubernetes Events (events.k8s.io/v1) through a
// bounded queue and a single writer, so Events never compete with the
// controller's Certificate writes for the API server. client-go's
// events.k8s.io broadcaster posts each Event from a goroutine of its own
// and keeps every Event for six minutes to build series: with 10,000
// Gateways that made convergence 37 s instead of 27 s and held about
// 24 MiB (docs/performance.md). Events are best effort, as client-go's are:
// when the queue is full an Event is dropped and counted, and an identical
// Event is not sent again within the repeat window.
package eventq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/lru"
)

// NoteLimit is the longest note the API server accepts in an
// events.k8s.io/v1 Event, in bytes; longer notes are cut to it.
const NoteLimit = 1024

// Defaults of Options.
const (
	DefaultQueueSize    = 1000
	DefaultRepeatWindow = 10 * time.Minute
	// rememberedEvents bounds the Events remembered for the repeat window.
	rememberedEvents = 4096
)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	// QueueSize is how many Events may wait to be written.
	QueueSize int
	// RepeatWindow is how long an identical Event is not sent again.
	RepeatWindow time.Duration
	// Dropped, if set, counts Events dropped because the queue was full.
	Dropped prometheus.Counter
}

// Recorder implements client-go's events.EventRecorder. Eventf never
// blocks; Start writes the queued Events.
type Recorder struct {
	client                                 eventsv1client.EventsGetter
	scheme                                 *runtime.Scheme
	reportingController, reportingInstance string
	log                                    logr.Logger
	queue                                  chan *eventsv1.Event
	window                                 time.Duration
	// sent remembers when each recent Event was queued, by a hash of what
	// makes two Events identical.
	sent    *lru.Cache
	dropped prometheus.Counter
	now     func() time.Time
}

var _ events.EventRecorder = (*Recorder)(nil)

// New returns a Recorder writing Events through client as controller, the
// Events' reportingController; like client-go, the reportingInstance is
// controller-<hostname>. References to objects are made with scheme.
func New(client eventsv1client.EventsGetter, scheme *runtime.Scheme, controller string, log logr.Logger, opts Options) *Recorder {
	hostname, _ := os.Hostname()
	return &Recorder{
		client:              client,
		scheme:              scheme,
		reportingController: controller,
		reportingInstance:   controller + "-" + hostname,
		log:                 log,
		queue:               make(chan *eventsv1.Event, max(1, cmp.Or(opts.QueueSize, DefaultQueueSize))),
		window:              cmp.Or(opts.RepeatWindow, DefaultRepeatWindow),
		sent:                lru.New(rememberedEvents),
		dropped:             opts.Dropped,
		now:                 time.Now,
	}
}

// Eventf queues an Event about regarding (and related, if set), as
// client-go's recorder would make it.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	now := r.now()
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "Failed to make a reference; not recording the Event", "reason", reason)
		return
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			r.log.V(1).Info("Failed to make a reference to the related object; recording the Event without it", "reason", reason, "error", err.Error())
		}
	}
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.log.Error(nil, "Unsupported Event type; not recording the Event", "eventType", eventtype, "reason", reason)
		return
	}
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// client-go's naming: unique per regarding object and instant.
			Name:      fmt.Sprintf("%v.%x", ref.Name, now.UnixNano()),
			Namespace: cmp.Or(ref.Namespace, metav1.NamespaceDefault),
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.reportingController,
		ReportingInstance:   r.reportingInstance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                truncate(fmt.Sprintf(note, args...), NoteLimit),
		Type:                eventtype,
	}
	key := identity(ev)
	if last, ok := r.sent.Get(key); ok && now.Sub(last.(time.Time)) < r.window {
		return
	}
	select {
	case r.queue <- ev:
		r.sent.Add(key, now)
	default:
		if r.dropped != nil {
			r.dropped.Inc()
		}
	}
}

// identity hashes what makes two Events the same occurrence again: the
// objects, type, reason, action and note.
func identity(ev *eventsv1.Event) uint64 {
	h := fnv.New64a()
	write := func(parts ...string) {
		for _, p := range parts {
			_, _ = h.Write([]byte(p))
			_, _ = h.Write([]byte{0})
		}
	}
	write(string(ev.Regarding.UID), ev.Regarding.Kind, ev.Regarding.Namespace, ev.Regarding.Name)
	if ev.Related != nil {
		write(string(ev.Related.UID), ev.Related.Kind, ev.Related.Namespace, ev.Related.Name)
	}
	write(ev.Type, ev.Reason, ev.Action, ev.Note)
	return h.Sum64()
}

// truncate cuts s to at most limit bytes on a character boundary, marking
// the cut with an ellipsis.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], func(r rune) bool { return r == ' ' }) + ellipsis
}

// Start writes queued Events one at a time until ctx ends; Events still
// queued then are dropped. It implements manager.Runnable.
func (r *Recorder) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.queue:
			r.write(ctx, ev)
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: any replica
// may record Events.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write creates ev, retrying briefly while the API server cannot answer;
// an Event the API server rejects is logged and dropped.
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	err := retry.OnError(retry.DefaultBackoff, retriable, func() error {
		_, err := r.client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		r.log.Error(err, "Failed to write an Event", "namespace", ev.Namespace, "regarding", ev.Regarding.Name, "reason", ev.Reason)
	}
}

// retriable reports whether a failed Event write may succeed if repeated:
// the API server was unreachable, busy or timed out.
func retriable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err)
}
