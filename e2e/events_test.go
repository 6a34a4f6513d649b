package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshcert/meshcert/e2e/framework"
	"github.com/meshcert/meshcert/internal/eventq"
)

// TestEventsOnTheRealStack writes Events through meshcert's recorder to a
// real API server, which also shows the note limit it cuts to is the API
// server's own.
func TestEventsOnTheRealStack(t *testing.T) {
	cp := framework.Start(t, framework.WithoutCertManager(), framework.WithoutControllerManager())
	ctx := t.Context()
	events, err := eventsv1client.NewForConfig(cp.RESTConfig)
	require.NoError(t, err)
	ns := &corev1.Namespace{}
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "default"}, ns))
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))

	t.Run("the API server refuses a note one byte over the limit", func(t *testing.T) {
		long := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "too-long", Namespace: "default"},
			EventTime:           metav1.NowMicro(),
			ReportingController: "meshcert", ReportingInstance: "meshcert-test",
			Action: "Check", Reason: "BadConfig", Type: corev1.EventTypeWarning,
			Regarding: corev1.ObjectReference{Kind: "Namespace", Name: "default", APIVersion: "v1"},
			Note:      strings.Repeat("x", eventq.NoteLimit+1),
		}
		_, err := events.Events("default").Create(ctx, long, metav1.CreateOptions{})
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "%v", err)
		long.Name, long.Note = "at-the-limit", strings.Repeat("x", eventq.NoteLimit)
		_, err = events.Events("default").Create(ctx, long, metav1.CreateOptions{})
		require.NoError(t, err)
	})

	t.Run("meshcert's recorder writes a long note cut to the limit", func(t *testing.T) {
		recorder := eventq.New(events, clientgoscheme.Scheme, "meshcert", logr.Discard(), eventq.Options{})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- recorder.Start(runCtx) }()
		defer func() {
			stop()
			assert.NoError(t, <-done)
		}()
		recorder.Eventf(ns, nil, corev1.EventTypeWarning, "BadConfig", "Check", "%s", strings.Repeat("MC1001 wrong; ", 200))
		eventually(t, "the Event", func(ctx context.Context) error {
			list, err := events.Events("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, e := range list.Items {
				if e.ReportingController == "meshcert" && e.Reason == "BadConfig" && strings.HasPrefix(e.Note, "MC1001") {
					assert.LessOrEqual(t, len(e.Note), eventq.NoteLimit)
					assert.True(t, strings.HasSuffix(e.Note, "…"))
					assert.Equal(t, "default", e.Regarding.Name)
					return nil
				}
			}
			return errors.New("no Event from meshcert yet")
		})
	})
}
