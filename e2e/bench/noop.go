package bench

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	mcwebhook "github.com/meshcert/meshcert/webhook"
)

// ServeNoop runs the limit meshcert is measured against: a controller-runtime
// webhook server with meshcert's TLS settings and serving certificate
// (tls.crt and tls.key in certDir), answering every path meshcert serves
// with "allowed" and doing nothing else. It returns when ctx ends.
func ServeNoop(ctx context.Context, host string, port int, certDir string) error {
	server := webhook.NewServer(webhook.Options{
		Host: host, Port: port, CertDir: certDir,
		TLSOpts: mcwebhook.TLSOptions(),
	})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})
	for _, d := range mcwebhook.Definitions() {
		server.Register(d.Path, &admission.Webhook{Handler: allow})
	}
	if err := server.Start(ctx); err != nil {
		return fmt.Errorf("failed to serve the no-op webhooks: %w", err)
	}
	return nil
}
