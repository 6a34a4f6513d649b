// Command dashboard-oracle checks Grafana dashboards with Grafana's and
// Prometheus's own code, standing in for Grafana's dashboard-linter, which
// the module proxy does not serve. For each file:
//
//   - it must decode strictly into the dashboard schema of the Grafana
//     Foundation SDK (generated from Grafana's own dashboard kind, panels
//     and Prometheus queries included) and pass its Validate;
//   - every Prometheus query must parse with Prometheus's PromQL parser,
//     once Grafana's variables are replaced;
//   - and it must keep the rules of dashboard-linter that apply: panels and
//     queries use the ${datasource} variable (template-datasource-rule,
//     panel-datasource-rule), every selector matches job=~"$job"
//     (target-job-rule), rate and increase use $__rate_interval
//     (target-rate-interval-rule), every variable a query uses is defined,
//     and every panel has a title.
//
// It prints one JSON line per file: {"file", "problems", "metrics"}, the
// metrics being every series name the queries select.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	File     string   `json:"file"`
	Problems []string `json:"problems"`
	Metrics  []string `json:"metrics"`
}

func main() {
	plugins.RegisterDefaultPlugins()
	failed := false
	for _, file := range os.Args[1:] {
		res := check(file)
		failed = failed || len(res.Problems) > 0
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			fmt.Fprintf(os.Stderr, "failed to write the result: %v\n", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// rawDashboard is what the checks read beside the SDK's typed view: the
// queries and data sources as written.
type rawDashboard struct {
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []rawPanel `json:"panels"`
}

type rawPanel struct {
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string           `json:"expr"`
		RefID      string           `json:"refId"`
		Datasource *json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []rawPanel `json:"panels"`
}

func check(file string) result {
	res := result{File: file, Problems: []string{}, Metrics: []string{}}
	data, err := os.ReadFile(file)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
		return res
	}
	// Grafana's sidecar provisions the classic JSON model (v1); v2 is the
	// schema of Grafana 12's new dashboards.
	var d dashboard.Dashboard //nolint:staticcheck // See above.
	if err := orNil(d.UnmarshalJSONStrict(data)); err != nil {
		res.Problems = append(res.Problems, "Grafana's dashboard schema: "+err.Error())
	} else if err := orNil(d.Validate()); err != nil {
		res.Problems = append(res.Problems, "Grafana's dashboard schema: "+err.Error())
	}
	var raw rawDashboard
	if err := json.Unmarshal(data, &raw); err != nil {
		res.Problems = append(res.Problems, err.Error())
		return res
	}
	variables := map[string]bool{}
	hasDatasource := false
	for _, v := range raw.Templating.List {
		variables[v.Name] = true
		hasDatasource = hasDatasource || (v.Type == "datasource" && v.Name == "datasource")
	}
	if !hasDatasource {
		res.Problems = append(res.Problems, "template-datasource-rule: no datasource variable named datasource")
	}
	var walk func([]rawPanel)
	walk = func(panels []rawPanel) {
		for _, p := range panels {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			where := fmt.Sprintf("panel %q", p.Title)
			if p.Title == "" {
				res.Problems = append(res.Problems, fmt.Sprintf("a %s panel has no title", p.Type))
			}
			if !usesDatasourceVariable(p.Datasource) {
				res.Problems = append(res.Problems, where+": panel-datasource-rule: the datasource is not ${datasource}")
			}
			for _, t := range p.Targets {
				where := fmt.Sprintf("%s, query %s", where, t.RefID)
				if !usesDatasourceVariable(t.Datasource) {
					res.Problems = append(res.Problems, where+": the datasource is not ${datasource}")
				}
				metrics, problems := checkQuery(t.Expr, variables)
				for _, problem := range problems {
					res.Problems = append(res.Problems, where+": "+problem)
				}
				res.Metrics = append(res.Metrics, metrics...)
			}
		}
	}
	walk(raw.Panels)
	slices.Sort(res.Metrics)
	res.Metrics = slices.Compact(res.Metrics)
	return res
}

// orNil is err, or nil for an empty cog.BuildErrors: the SDK's strict
// decoding returns its empty list of errors as a non-nil error.
func orNil(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

func usesDatasourceVariable(raw *json.RawMessage) bool {
	if raw == nil {
		return false
	}
	var ref struct {
		UID string `json:"uid"`
	}
	return json.Unmarshal(*raw, &ref) == nil && ref.UID == "${datasource}"
}

// rateInterval stands for $__rate_interval in a parsed query, a range no
// one writes, so a range of its own is told from it.
const rateInterval = 4242 * time.Second

// variable is a Grafana variable: $name, ${name} or ${name:format}.
var variable = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|([A-Za-z0-9_]+))`)

// checkQuery parses expr as Prometheus would once Grafana has replaced its
// variables, and returns the series it selects and what is wrong with it.
func checkQuery(expr string, variables map[string]bool) ([]string, []string) {
	var problems []string
	if strings.TrimSpace(expr) == "" {
		return nil, []string{"the query is empty"}
	}
	replaced := variable.ReplaceAllStringFunc(expr, func(v string) string {
		m := variable.FindStringSubmatch(v)
		name := m[1] + m[2]
		switch {
		case name == "__rate_interval":
			return rateInterval.String()
		case strings.HasPrefix(name, "__"):
			// Grafana's others: $__interval, $__range.
			return "5m"
		case !variables[name]:
			problems = append(problems, fmt.Sprintf("it uses the variable %s, which the dashboard does not define", v))
		}
		return "x"
	})
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(replaced)
	if err != nil {
		return nil, append(problems, "Prometheus's PromQL parser: "+err.Error())
	}
	var metrics []string
	parser.Inspect(parsed, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			metrics = append(metrics, n.Name)
			if !slices.ContainsFunc(n.LabelMatchers, func(m *labels.Matcher) bool {
				return m.Name == "job" && m.Type == labels.MatchRegexp && m.Value == "x"
			}) {
				problems = append(problems, fmt.Sprintf(`target-job-rule: %s does not match job=~"$job"`, n.Name))
			}
		case *parser.Call:
			if n.Func.Name != "rate" && n.Func.Name != "increase" {
				break
			}
			for _, arg := range n.Args {
				if m, ok := arg.(*parser.MatrixSelector); ok && m.Range != rateInterval {
					problems = append(problems, "target-rate-interval-rule: "+n.Func.Name+" over a range other than $__rate_interval")
				}
			}
		}
		return nil
	})
	return metrics, problems
}
