// Command dashq evaluates every panel query of every Grafana dashboard, and every
// alert rule expression, against a running Prometheus through its HTTP API, the
// way Grafana would: template variables are replaced by real label values (All =
// ".*" and, one variable at a time, the heaviest real value) and Grafana's
// built-ins ($__rate_interval, $__range, ...) by fixed windows.
//
// A dashboard query fails when Prometheus answers an error or no series; an alert
// expression fails only on an error (an empty result is an alert that does not
// fire). It prints one line per query and exits 1 on any failure.
//
//	go run ./scripts/dashq -prometheus http://127.0.0.1:9090 -wait-scrapes 5
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

type config struct {
	prom         string
	dashboards   string
	rules        string
	job          string
	rateInterval time.Duration
	interval     time.Duration
	rng          time.Duration
	waitScrapes  int
	waitTimeout  time.Duration
	allowEmpty   *regexp.Regexp
}

func main() {
	var c config
	var allow string
	flag.StringVar(&c.prom, "prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	flag.StringVar(&c.dashboards, "dashboards", "dashboards", "directory of Grafana dashboard JSON files")
	flag.StringVar(&c.rules, "rules", "deploy/prometheus/alerts.yml", "Prometheus rules file whose expressions to evaluate (empty: none)")
	flag.StringVar(&c.job, "job", "intercom_exporter", "scrape job of the exporter (for -wait-scrapes)")
	flag.DurationVar(&c.rateInterval, "rate-interval", time.Minute, "value of $__rate_interval")
	flag.DurationVar(&c.interval, "interval", 15*time.Second, "value of $__interval and the query_range step")
	flag.DurationVar(&c.rng, "range", 5*time.Minute, "value of $__range (the time picker's range)")
	flag.IntVar(&c.waitScrapes, "wait-scrapes", 0, "first wait until Prometheus holds this many successful scrapes of -job and has evaluated every rule")
	flag.DurationVar(&c.waitTimeout, "wait-timeout", 90*time.Second, "bound of -wait-scrapes")
	flag.StringVar(&allow, "allow-empty", "", "regexp on \"file: panel title\" of queries allowed to return no series")
	flag.Parse()
	if allow != "" {
		c.allowEmpty = regexp.MustCompile(allow)
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dashq:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- Prometheus API

type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Data      json.RawMessage `json:"data"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

var client = &http.Client{Timeout: 30 * time.Second}

func (c config) get(path string, params url.Values, out any) error {
	u := strings.TrimRight(c.prom, "/") + path + "?" + params.Encode()
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, out)
}

// query runs an instant query (at now) or a range query (the last -range,
// stepped by -interval) and returns the number of series.
func (c config) query(expr string, isRange bool, now time.Time) (int, []sample, error) {
	p := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if isRange {
		path = "/api/v1/query_range"
		p.Set("start", strconv.FormatInt(now.Add(-c.rng).Unix(), 10))
		p.Set("end", strconv.FormatInt(now.Unix(), 10))
		p.Set("step", strconv.FormatFloat(c.interval.Seconds(), 'f', -1, 64))
	} else {
		p.Set("time", strconv.FormatInt(now.Unix(), 10))
	}
	var d queryData
	if err := c.get(path, p, &d); err != nil {
		return 0, nil, err
	}
	switch d.ResultType {
	case "vector":
		var s []sample
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return 0, nil, err
		}
		return len(s), s, nil
	case "matrix":
		var s []json.RawMessage
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return 0, nil, err
		}
		return len(s), nil, nil
	case "scalar", "string":
		return 1, nil, nil
	}
	return 0, nil, fmt.Errorf("unknown result type %q", d.ResultType)
}

// waitForScrapes waits until the exporter has been scraped successfully n times
// and every rule group has been evaluated once.
func (c config) waitForScrapes(n int) error {
	deadline := time.Now().Add(c.waitTimeout)
	q := fmt.Sprintf(`sum_over_time(up{job=%q}[10m]) >= %d`, c.job, n)
	for {
		count, _, err := c.query(q, false, time.Now())
		rulesOK := true
		if err == nil && c.rules != "" {
			var r struct {
				Groups []struct {
					Name           string `json:"name"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"groups"`
			}
			err = c.get("/api/v1/rules", nil, &r)
			rulesOK = len(r.Groups) > 0
			for _, g := range r.Groups {
				if g.LastEvaluation == "" || strings.HasPrefix(g.LastEvaluation, "0001-") {
					rulesOK = false
				}
			}
		}
		if err == nil && count > 0 && rulesOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: no %d successful scrapes of job %q with rules evaluated (last error: %v)", c.waitTimeout, n, c.job, err)
		}
		time.Sleep(time.Second)
	}
}

// ---------------------------------------------------------------- dashboards

type target struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Instant bool   `json:"instant"`
	Range   bool   `json:"range"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"`
}

type variable struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Definition string `json:"definition"`
	Query      any    `json:"query"`
	AllValue   string `json:"allValue"`
	IncludeAll bool   `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashboard struct {
	file       string
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

func (d dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(?:([^,]+?)\s*,\s*)?(\w+)\s*\)\s*$`)

// resolved is a variable's values for evaluation: all (the All value) and one
// real value.
type resolved struct {
	all, one string
	count    int
}

func (c config) resolve(v variable, now time.Time) (resolved, error) {
	def := v.Definition
	if q, ok := v.Query.(string); ok && def == "" {
		def = q
	}
	if q, ok := v.Query.(map[string]any); ok && def == "" {
		def, _ = q["query"].(string)
	}
	m := labelValuesRE.FindStringSubmatch(def)
	if m == nil {
		return resolved{}, fmt.Errorf("variable %s: only label_values(...) queries are supported, got %q", v.Name, def)
	}
	selector, label := m[1], m[2]
	p := url.Values{}
	if selector != "" {
		p.Set("match[]", selector)
	}
	var values []string
	if err := c.get("/api/v1/label/"+url.PathEscape(label)+"/values", p, &values); err != nil {
		return resolved{}, fmt.Errorf("variable %s: %w", v.Name, err)
	}
	if len(values) == 0 {
		return resolved{}, fmt.Errorf("variable %s: %s has no values (the dropdown would be empty)", v.Name, def)
	}
	r := resolved{all: v.AllValue, one: values[0], count: len(values)}
	if r.all == "" {
		r.all = ".*"
	}
	// The heaviest value: a filter on it is the least likely to be empty.
	if selector != "" {
		_, s, err := c.query(fmt.Sprintf("sort_desc(sum by (%s) (%s))", label, selector), false, now)
		if err == nil && len(s) > 0 && s[0].Metric[label] != "" {
			r.one = s[0].Metric[label]
		}
	}
	return r, nil
}

// promRegexValue escapes a label value for use in a PromQL regex string, as
// Grafana does for multi-value variables.
func promRegexValue(v string) string {
	q := regexp.QuoteMeta(v)
	q = strings.ReplaceAll(q, `\`, `\\`)
	return strings.ReplaceAll(q, `"`, `\"`)
}

var varRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

func (c config) substitute(expr string, vals map[string]string) (string, error) {
	builtins := map[string]string{
		"__rate_interval": promDuration(c.rateInterval),
		"__interval":      promDuration(c.interval),
		"__interval_ms":   strconv.FormatInt(c.interval.Milliseconds(), 10),
		"__range":         promDuration(c.rng),
		"__range_s":       strconv.FormatInt(int64(c.rng.Seconds()), 10),
		"__range_ms":      strconv.FormatInt(c.rng.Milliseconds(), 10),
	}
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(s string) string {
		m := varRE.FindStringSubmatch(s)
		name := m[1] + m[2] + m[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := vals[name]; ok {
			return v
		}
		missing = append(missing, name)
		return s
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return out, nil
}

func promDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func loadDashboards(dir string) ([]dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	var out []dashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out, nil
}

// ---------------------------------------------------------------- run

type result struct {
	where, panel, ref, mode string
	series                  int
	status                  string
	failed                  bool
}

func run(c config, stdout io.Writer) error {
	if c.waitScrapes > 0 {
		if err := c.waitForScrapes(c.waitScrapes); err != nil {
			return err
		}
	}
	dashes, err := loadDashboards(c.dashboards)
	if err != nil {
		return err
	}
	now := time.Now()
	var results []result
	var failures []string
	fail := func(r *result, format string, args ...any) {
		r.failed = true
		r.status = "FAIL " + fmt.Sprintf(format, args...)
		failures = append(failures, fmt.Sprintf("%s / %s / %s [%s]: %s", r.where, r.panel, r.ref, r.mode, r.status))
	}

	for _, d := range dashes {
		vars := map[string]resolved{}
		var names []string
		for _, v := range d.Templating.List {
			switch v.Type {
			case "datasource":
				continue
			case "query":
				r, err := c.resolve(v, now)
				if err != nil {
					res := result{where: d.file, panel: "$" + v.Name, ref: "-", mode: "variable"}
					fail(&res, "%v", err)
					results = append(results, res)
					continue
				}
				vars[v.Name] = r
				names = append(names, v.Name)
				results = append(results, result{where: d.file, panel: "$" + v.Name, ref: "-", mode: "variable",
					series: r.count, status: fmt.Sprintf("ok: %d values, one = %q", r.count, r.one)})
			default:
				// custom/constant/interval: use the current value.
				s := fmt.Sprint(v.Current.Value)
				vars[v.Name] = resolved{all: s, one: s}
				names = append(names, v.Name)
			}
		}
		// Modes: every variable = All, then each query variable alone = one real value.
		type mode struct {
			name string
			vals map[string]string
		}
		allVals := map[string]string{}
		for n, r := range vars {
			allVals[n] = r.all
		}
		modes := []mode{{"all", allVals}}
		for _, n := range names {
			if vars[n].one == vars[n].all {
				continue
			}
			m := map[string]string{}
			for k, v := range allVals {
				m[k] = v
			}
			m[n] = promRegexValue(vars[n].one)
			modes = append(modes, mode{n + "=" + vars[n].one, m})
		}
		for _, p := range d.panels() {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				for _, m := range modes {
					// A query that does not use the variable gains nothing from the mode.
					if m.name != "all" {
						vn, _, _ := strings.Cut(m.name, "=")
						if !regexp.MustCompile(`\$\{?` + vn + `\b|\[\[` + vn + `\]\]`).MatchString(t.Expr) {
							continue
						}
					}
					r := result{where: d.file, panel: p.Title, ref: t.RefID, mode: m.name}
					expr, err := c.substitute(t.Expr, m.vals)
					if err != nil {
						fail(&r, "%v", err)
						results = append(results, r)
						continue
					}
					isRange := p.Type == "timeseries" || (t.Range && !t.Instant)
					n, _, err := c.query(expr, false, now)
					if err == nil && isRange {
						var nr int
						nr, _, err = c.query(expr, true, now)
						if err == nil && nr == 0 {
							n = 0
						}
					}
					r.series = n
					switch {
					case err != nil:
						fail(&r, "%v (query %s)", err, expr)
					case n == 0 && c.allowEmpty != nil && c.allowEmpty.MatchString(d.file+": "+p.Title):
						r.status = "empty (allowed)"
					case n == 0:
						fail(&r, "no series (query %s)", expr)
					default:
						r.status = "ok"
					}
					results = append(results, r)
				}
			}
		}
	}

	if c.rules != "" {
		rs, err := c.evalRules(now)
		if err != nil {
			return err
		}
		for i := range rs {
			if rs[i].failed {
				failures = append(failures, fmt.Sprintf("%s / %s: %s", rs[i].where, rs[i].panel, rs[i].status))
			}
		}
		results = append(results, rs...)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DASHBOARD\tPANEL\tREF\tVARIABLES\tSERIES\tRESULT")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.where, trunc(r.panel, 60), r.ref, trunc(r.mode, 40), r.series, r.status)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "dashq: %d queries, %d failed\n", len(results), len(failures))
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "\n"))
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// evalRules evaluates every rule expression of the rules file and checks that
// Prometheus itself loaded the rules and evaluates them without error.
func (c config) evalRules(now time.Time) ([]result, error) {
	raw, err := os.ReadFile(c.rules)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", c.rules, err)
	}
	var loaded struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
				State     string `json:"state"`
			} `json:"rules"`
		} `json:"groups"`
	}
	health := map[string]string{}
	if err := c.get("/api/v1/rules", nil, &loaded); err == nil {
		for _, g := range loaded.Groups {
			for _, r := range g.Rules {
				health[r.Name] = r.Health + " " + r.State + " " + r.LastError
			}
		}
	}
	var out []result
	where := filepath.Base(c.rules)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			res := result{where: where, panel: name, ref: "expr", mode: "-"}
			n, _, err := c.query(r.Expr, false, now)
			res.series = n
			switch {
			case err != nil:
				res.failed, res.status = true, "FAIL "+err.Error()
			case n == 0:
				res.status = "ok (empty: not firing)"
			default:
				res.status = "ok (would be pending/firing)"
			}
			if h, ok := health[name]; !ok && len(health) > 0 {
				res.failed, res.status = true, "FAIL not loaded by Prometheus"
			} else if ok && !strings.HasPrefix(h, "ok ") {
				res.failed, res.status = true, "FAIL Prometheus rule health: "+h
			} else if ok {
				res.status += ", prometheus: " + strings.TrimSpace(h)
			}
			out = append(out, res)
		}
	}
	return out, nil
}
