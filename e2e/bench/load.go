// Package bench measures meshcert against the limit (doing nothing) and
// against the tools users would otherwise run, on the local control plane:
// admission round trips over HTTPS, applies through the API server, the
// controller at scale, cert-manager's gateway-shim and the CI gate. The
// figures are reported, never asserted; `make bench` runs it (cmd/bench).
package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// Request is one AdmissionReview to post: the path it goes to, its body
// and the uid the answer must carry.
type Request struct {
	Path string
	Body []byte
	UID  string
}

// LoadConfig is one load phase against one webhook server.
type LoadConfig struct {
	// BaseURL is the server's https base URL; Requests' paths are appended.
	BaseURL string
	// Requests are posted in turn, round robin.
	Requests []Request
	// Rate is the offered load in requests per second, sent open loop (on
	// schedule, whether or not earlier answers came back, so a slow server
	// is charged for the queue it causes). Zero means saturation: every
	// connection sends its next request as soon as the last one is answered.
	Rate float64
	// Connections are the keep-alive connections (and senders) used.
	Connections int
	// Duration of the phase.
	Duration time.Duration
}

// LoadResult is what one phase measured.
type LoadResult struct {
	// Requests answered with an allowed AdmissionReview for the right uid.
	Requests int
	// Errors are transport errors, non-200 answers and wrong answers.
	Errors int
	// FirstError describes the first error, for the report.
	FirstError string
	// Elapsed is the measured phase's length.
	Elapsed time.Duration
	// Latencies of the answered requests, from when each was due to be sent.
	Latencies []time.Duration
}

// Throughput is the answered requests per second.
func (r LoadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Quantile returns the latency below which a fraction q of the requests
// were answered (nearest rank), or 0 without requests.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Merge adds other's measurements to r, for phases repeated in rounds.
func (r *LoadResult) Merge(other LoadResult) {
	r.Requests += other.Requests
	r.Errors += other.Errors
	if r.FirstError == "" {
		r.FirstError = other.FirstError
	}
	r.Elapsed += other.Elapsed
	r.Latencies = append(r.Latencies, other.Latencies...)
}

// NewClient is an HTTP/1.1 client with keep-alive trusting caPEM, as the
// API server's webhook client is: one TLS connection per sender, reused.
func NewClient(caPEM []byte, connections int) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("failed to read the webhook CA bundle: no PEM certificate in it")
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections,
		MaxConnsPerHost:     connections,
		IdleConnTimeout:     time.Minute,
		// An empty map turns HTTP/2 off, as the servers only speak HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}, nil
}

// Load runs one phase with client and returns what the measured part saw.
func Load(ctx context.Context, client *http.Client, cfg LoadConfig) (LoadResult, error) {
	if len(cfg.Requests) == 0 || cfg.Connections < 1 || cfg.Duration <= 0 {
		return LoadResult{}, fmt.Errorf("failed to run a load phase: it needs requests, connections and a duration, got %d, %d and %s",
			len(cfg.Requests), cfg.Connections, cfg.Duration)
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	next := saturate(ctx, end)
	if cfg.Rate > 0 {
		due := make(chan time.Time, 1024)
		go schedule(ctx, cfg.Rate, start, end, due)
		next = func() (time.Time, bool) {
			at, ok := <-due
			return at, ok
		}
	}

	results := make([]LoadResult, cfg.Connections)
	var wg sync.WaitGroup
	for c := range cfg.Connections {
		wg.Go(func() {
			res := &results[c]
			for i := c; ; i += cfg.Connections {
				at, ok := next()
				if !ok {
					return
				}
				req := cfg.Requests[i%len(cfg.Requests)]
				if err := post(ctx, client, cfg.BaseURL, req); err != nil {
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					continue
				}
				res.Requests++
				res.Latencies = append(res.Latencies, time.Since(at))
			}
		})
	}
	wg.Wait()
	var out LoadResult
	for _, r := range results {
		out.Merge(r)
	}
	out.Elapsed = time.Since(start)
	slices.Sort(out.Latencies)
	return out, ctx.Err()
}

// saturate is the closed loop: a sender's next request is due as soon as
// its last one is answered, until end.
func saturate(ctx context.Context, end time.Time) func() (time.Time, bool) {
	return func() (time.Time, bool) {
		now := time.Now()
		return now, ctx.Err() == nil && now.Before(end)
	}
}

// schedule sends the time each request is due, on a fixed schedule at rate
// from start until end.
func schedule(ctx context.Context, rate float64, start, end time.Time, due chan<- time.Time) {
	defer close(due)
	interval := time.Duration(float64(time.Second) / rate)
	for at := start; at.Before(end); at = at.Add(interval) {
		if wait := time.Until(at); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case due <- at:
		}
	}
}

// post sends one AdmissionReview and checks the answer is an allowed review
// of the same request.
func post(ctx context.Context, client *http.Client, baseURL string, req Request) error {
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return fmt.Errorf("failed to build the request: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(httpReq)
	if err != nil {
		return fmt.Errorf("failed to post to %s: %w", req.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("failed to read the answer from %s: %w", req.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", req.Path, resp.Status, body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return fmt.Errorf("failed to decode the answer from %s: %w", req.Path, err)
	}
	if review.Response == nil || string(review.Response.UID) != req.UID {
		return fmt.Errorf("%s answered a review for another request", req.Path)
	}
	if !review.Response.Allowed {
		msg := ""
		if review.Response.Result != nil {
			msg = review.Response.Result.Message
		}
		return fmt.Errorf("%s did not allow the request: %s", req.Path, msg)
	}
	return nil
}
