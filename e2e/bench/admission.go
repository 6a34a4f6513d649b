package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Targets of the admission phases.
const (
	TargetMeshcert = "meshcert"
	TargetNoop     = "noop"
)

// AdmissionConfig is the admission benchmark: for each Gateway size, a
// fixed-rate phase and a saturation phase, each run Rounds times against
// both servers, alternating which goes first.
type AdmissionConfig struct {
	// Sizes are the Gateways' server counts.
	Sizes []int
	// Rate is the fixed rate, in requests per second.
	Rate float64
	// Connections are the keep-alive connections per phase.
	Connections int
	// Duration and Warmup of each phase.
	Duration, Warmup time.Duration
	// Rounds each phase is repeated, per server.
	Rounds int
}

// AdmissionServers are the two servers and how to count meshcert's API
// requests.
type AdmissionServers struct {
	// MeshcertURL and NoopURL are the https base URLs; both serve the same
	// certificate, signed by CA.
	MeshcertURL, NoopURL string
	CA                   []byte
	// Namespace holds the Gateways (its policy allows them) and Issuer
	// is the ClusterIssuer they name.
	Namespace, Issuer string
	// APIRequests returns meshcert's client request count so far.
	APIRequests func(context.Context) (float64, error)
	// PIDs are the servers' processes by target, to charge them the CPU
	// they use.
	PIDs map[string]int
	// Profile, if set, takes a CPU profile of meshcert for the given time
	// into a file named after the phase; it runs during the first
	// saturation round of each size.
	Profile func(ctx context.Context, name string, d time.Duration) error
}

// AdmissionRow is one size, mode and target, over every round.
type AdmissionRow struct {
	// ServerCPU is the CPU time the server used during the phases.
	ServerCPU time.Duration
	Servers   int
	// Rate is the offered rate; 0 is saturation.
	Rate   float64
	Target string
	Result LoadResult
}

// AdmissionReport is the admission benchmark's outcome.
type AdmissionReport struct {
	Rows []AdmissionRow
	// Admissions meshcert answered while APIRequests were counted, and
	// the API requests it made meanwhile.
	Admissions, APIRequests float64
}

// Row returns the row for servers, rate and target.
func (r AdmissionReport) Row(servers int, rate float64, target string) (AdmissionRow, bool) {
	for _, row := range r.Rows {
		if row.Servers == servers && row.Rate == rate && row.Target == target {
			return row, true
		}
	}
	return AdmissionRow{}, false
}

// RunAdmission measures both servers, alternating, and counts meshcert's
// API requests over its phases.
func RunAdmission(ctx context.Context, cfg AdmissionConfig, s AdmissionServers, logf func(string, ...any)) (AdmissionReport, error) {
	client, err := NewClient(s.CA, cfg.Connections)
	if err != nil {
		return AdmissionReport{}, err
	}
	defer client.CloseIdleConnections()
	var report AdmissionReport
	urls := map[string]string{TargetMeshcert: s.MeshcertURL, TargetNoop: s.NoopURL}
	for _, size := range cfg.Sizes {
		requests, err := GatewayRequests(ctx, client, s.MeshcertURL, s.Namespace, s.Issuer, size, 16)
		if err != nil {
			return report, err
		}
		for _, rate := range []float64{cfg.Rate, 0} {
			rows := map[string]*AdmissionRow{
				TargetMeshcert: {Servers: size, Rate: rate, Target: TargetMeshcert},
				TargetNoop:     {Servers: size, Rate: rate, Target: TargetNoop},
			}
			for round := range cfg.Rounds {
				order := []string{TargetMeshcert, TargetNoop}
				if round%2 == 1 {
					order = []string{TargetNoop, TargetMeshcert}
				}
				for _, target := range order {
					before, err := countIf(ctx, target, s.APIRequests)
					if err != nil {
						return report, err
					}
					phase := LoadConfig{
						BaseURL: urls[target], Requests: requests, Rate: rate,
						Connections: cfg.Connections, Duration: cfg.Warmup,
					}
					if cfg.Warmup > 0 {
						if _, err := Load(ctx, client, phase); err != nil {
							return report, fmt.Errorf("failed to warm %s up: %w", target, err)
						}
					}
					phase.Duration = cfg.Duration
					profiled := make(chan error, 1)
					if target == TargetMeshcert && rate == 0 && round == 0 && s.Profile != nil {
						go func() {
							profiled <- s.Profile(ctx, fmt.Sprintf("meshcert-cpu-%dservers.pprof", size), cfg.Duration*9/10)
						}()
					} else {
						profiled <- nil
					}
					cpuBefore, cerr := ProcessCPU(s.PIDs[target])
					res, err := Load(ctx, client, phase)
					cpuAfter, cerr2 := ProcessCPU(s.PIDs[target])
					if cerr == nil && cerr2 == nil {
						rows[target].ServerCPU += cpuAfter - cpuBefore
					}
					if perr := <-profiled; perr != nil {
						logf("failed to profile meshcert: %v", perr)
					}
					if err != nil {
						return report, fmt.Errorf("failed to load %s: %w", target, err)
					}
					after, err := countIf(ctx, target, s.APIRequests)
					if err != nil {
						return report, err
					}
					if target == TargetMeshcert {
						report.Admissions += float64(res.Requests + res.Errors)
						report.APIRequests += after - before
					}
					logf("admission %d servers, %s, %s round %d: %.0f req/s, p99 %s, %d errors %s",
						size, rateName(rate), target, round+1, res.Throughput(), Quantile(res.Latencies, 0.99), res.Errors, res.FirstError)
					rows[target].Result.Merge(res)
				}
			}
			for _, target := range []string{TargetMeshcert, TargetNoop} {
				row := *rows[target]
				slices.Sort(row.Result.Latencies)
				report.Rows = append(report.Rows, row)
			}
		}
	}
	return report, nil
}

// countIf counts meshcert's API requests around meshcert's phases only.
func countIf(ctx context.Context, target string, count func(context.Context) (float64, error)) (float64, error) {
	if target != TargetMeshcert || count == nil {
		return 0, nil
	}
	n, err := count(ctx)
	if err != nil {
		return 0, fmt.Errorf("failed to count meshcert's API requests: %w", err)
	}
	return n, nil
}

func rateName(rate float64) string {
	if rate == 0 {
		return "saturation"
	}
	return fmt.Sprintf("%.0f req/s", rate)
}
