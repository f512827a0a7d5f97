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
// With -exporter, the member tables (Infinity data source queries) are fetched
// from the exporter with basic auth, with every variable All and then one real
// value per variable (the month variable from /billing-months.json): each must
// answer rows that have every column the panel references.
//
//	go run ./scripts/dashq -prometheus http://127.0.0.1:9090 -wait-scrapes 5 \
//	  -exporter http://127.0.0.1:8469 -user grafana -password-file pw.txt
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
	// The exporter for the member tables ("" to skip them) and its basic-auth
	// user and password.
	exporter, user, password string
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
	flag.StringVar(&c.exporter, "exporter", "", "exporter base URL for the member tables (Infinity queries); empty: skip them")
	flag.StringVar(&c.user, "user", "", "basic-auth user for -exporter")
	passwordFile := flag.String("password-file", "", "file holding the basic-auth password for -exporter")
	flag.Parse()
	if *passwordFile != "" {
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dashq:", err)
			os.Exit(2)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
	}
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
	RefID      string     `json:"refId"`
	Datasource datasource `json:"datasource"`
	Expr       string     `json:"expr"`
	Instant    bool       `json:"instant"`
	Range      bool       `json:"range"`
	// Infinity (member tables).
	URL     string   `json:"url"`
	Columns []column `json:"columns"`
}

type datasource struct {
	Type string `json:"type"`
}

type column struct {
	Selector string `json:"selector"`
	Text     string `json:"text"`
}

const infinityType = "yesoreyeram-infinity-datasource"

type panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Datasource      datasource       `json:"datasource"`
	Targets         []target         `json:"targets"`
	Panels          []panel          `json:"panels"`
	FieldConfig     fieldConfig      `json:"fieldConfig"`
	Transformations []transformation `json:"transformations"`
}

type fieldConfig struct {
	Overrides []struct {
		Matcher struct {
			ID      string `json:"id"`
			Options string `json:"options"`
		} `json:"matcher"`
		Properties []struct {
			ID    string          `json:"id"`
			Value json.RawMessage `json:"value"`
		} `json:"properties"`
	} `json:"overrides"`
}

type transformation struct {
	ID      string `json:"id"`
	Options struct {
		Fields map[string]any `json:"fields"`
	} `json:"options"`
}

type variable struct {
	Type       string     `json:"type"`
	Datasource datasource `json:"datasource"`
	Multi      bool       `json:"multi"`
	Name       string     `json:"name"`
	Definition string     `json:"definition"`
	Query      any        `json:"query"`
	AllValue   string     `json:"allValue"`
	IncludeAll bool       `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashboard struct {
	file   string
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
	Time   struct {
		From string `json:"from"`
	} `json:"time"`
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
	// hasAll is true when the variable offers All (what the "all" mode uses).
	hasAll bool
	// alt is another real value of a variable without All (the member
	// tables are fetched with its first value, then with this one).
	alt string
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
	r := resolved{all: v.AllValue, one: values[0], count: len(values), hasAll: v.IncludeAll}
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
			case "query", "custom":
				var r resolved
				var err error
				switch {
				case v.Type == "custom":
					r, err = resolveCustom(v)
				case v.Datasource.Type == infinityType && c.exporter == "":
					continue // only the member tables use it, and they are skipped
				case v.Datasource.Type == infinityType:
					r, err = c.resolveInfinity(v)
				default:
					r, err = c.resolve(v, now)
				}
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
		if c.exporter != "" {
			for _, p := range d.panels() {
				results = append(results, c.memberTable(d, p, vars, names, now, fail)...)
			}
		}
		for _, p := range d.panels() {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" || t.Datasource.Type == infinityType {
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

// ---------------------------------------------------------------- member tables

// resolveCustom reads a custom variable's options (comma-separated).
func resolveCustom(v variable) (resolved, error) {
	q, _ := v.Query.(string)
	var opts []string
	for _, o := range strings.Split(q, ",") {
		if o = strings.TrimSpace(o); o != "" {
			opts = append(opts, o)
		}
	}
	if len(opts) == 0 {
		return resolved{}, fmt.Errorf("variable %s: no options in %q", v.Name, q)
	}
	r := resolved{all: opts[0], one: opts[0], count: len(opts), hasAll: v.IncludeAll}
	if v.IncludeAll {
		r.all = v.AllValue
		if r.all == "" {
			r.all = ".*"
		}
	}
	return r, nil
}

// resolveInfinity reads a variable that an Infinity query of the exporter
// feeds (the billing month): its values are the __value column.
func (c config) resolveInfinity(v variable) (resolved, error) {
	q, _ := v.Query.(map[string]any)
	iq, _ := q["infinityQuery"].(map[string]any)
	u, _ := iq["url"].(string)
	valueCol := ""
	cols, _ := iq["columns"].([]any)
	for _, col := range cols {
		m, _ := col.(map[string]any)
		if m["text"] == "__value" || (valueCol == "" && len(cols) == 1) {
			valueCol, _ = m["selector"].(string)
		}
	}
	if u == "" || valueCol == "" {
		return resolved{}, fmt.Errorf("variable %s: an Infinity query with a URL and a __value column is needed", v.Name)
	}
	rows, err := c.fetchRows(u)
	if err != nil {
		return resolved{}, fmt.Errorf("variable %s: %w", v.Name, err)
	}
	var values []string
	for _, row := range rows {
		if s, ok := row[valueCol].(string); ok && s != "" {
			values = append(values, s)
		}
	}
	if len(values) == 0 {
		return resolved{}, fmt.Errorf("variable %s: %s has no %s values (the dropdown would be empty)", v.Name, u, valueCol)
	}
	// Without All, the first value is what the dashboard shows first; the
	// last one is tried too.
	return resolved{all: values[0], one: values[0], count: len(values), alt: values[len(values)-1]}, nil
}

// fetchRows GETs a path of the exporter with basic auth and decodes a JSON
// array of objects.
func (c config) fetchRows(path string) ([]map[string]any, error) {
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(c.exporter, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("not a JSON array of objects: %v", err)
	}
	return rows, nil
}

var urlVarRE = regexp.MustCompile(`\$\{(\w+)(?::([^}]*))?\}|\$(\w+)`)

// interpolateURL replaces a member table's variables as Grafana does:
// ${name:queryparam} is var-name=value (var-name=$__all for All), $name the
// value, ${__from:date:YYYY-MM-DD} and ${__to:date:YYYY-MM-DD} the days of the
// dashboard's time range (from = now - days). one names the variable set to
// its one value; every other variable is All.
func interpolateURL(raw string, vars map[string]resolved, one string, now time.Time, days int) (string, error) {
	var errs []string
	out := urlVarRE.ReplaceAllStringFunc(raw, func(s string) string {
		m := urlVarRE.FindStringSubmatch(s)
		name, format := m[1]+m[3], m[2]
		switch name {
		case "__from", "__to":
			if format != "date:YYYY-MM-DD" {
				errs = append(errs, fmt.Sprintf("unsupported format %q of %s", format, name))
				return s
			}
			t := now
			if name == "__from" {
				t = now.AddDate(0, 0, -days)
			}
			return t.UTC().Format("2006-01-02")
		}
		r, ok := vars[name]
		if !ok {
			errs = append(errs, "undefined variable "+name)
			return s
		}
		all := r.hasAll && name != one
		val := r.one
		switch {
		case all:
			val = r.all
		case name == one && !r.hasAll && r.alt != "":
			val = r.alt
		}
		switch format {
		case "queryparam":
			if all {
				val = "$__all"
			}
			return "var-" + name + "=" + url.QueryEscape(val)
		case "":
			return url.QueryEscape(val)
		}
		errs = append(errs, fmt.Sprintf("unsupported format %q of %s", format, name))
		return s
	})
	if len(errs) > 0 {
		return "", errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// rangeDays reads a dashboard's time range start such as now-30d.
func rangeDays(from string) int {
	m := regexp.MustCompile(`^now-(\d+)d$`).FindStringSubmatch(from)
	if m == nil {
		return 7
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// referenced lists the columns (JSON keys) a member table uses: its
// query's columns, and those its overrides, links and transformations name.
func referenced(p panel, t target) (cols []string, unknown []string) {
	byText := map[string]string{}
	for _, c := range t.Columns {
		byText[c.Text] = c.Selector
		cols = append(cols, c.Selector)
	}
	use := func(text string) {
		if _, ok := byText[text]; !ok {
			unknown = append(unknown, text)
		}
	}
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID == "byName" {
			use(o.Matcher.Options)
		}
		for _, prop := range o.Properties {
			if prop.ID == "links" {
				for _, m := range regexp.MustCompile(`__data\.fields\[\\?"([^"\\]+)\\?"\]`).FindAllStringSubmatch(string(prop.Value), -1) {
					use(m[1])
				}
			}
		}
	}
	for _, tr := range p.Transformations {
		if tr.ID == "groupBy" {
			for f := range tr.Options.Fields {
				use(f)
			}
		}
	}
	return cols, unknown
}

// memberTable fetches every Infinity query of a panel from the exporter:
// every variable All, then each variable it uses set to one real value.
func (c config) memberTable(d dashboard, p panel, vars map[string]resolved, names []string, now time.Time, fail func(*result, string, ...any)) []result {
	var out []result
	for _, t := range p.Targets {
		if t.Datasource.Type != infinityType || t.URL == "" {
			continue
		}
		cols, unknown := referenced(p, t)
		modes := []string{""}
		for _, n := range names {
			r := vars[n]
			if regexp.MustCompile(`\$\{?`+n+`\b`).MatchString(t.URL) && (r.hasAll || (r.alt != "" && r.alt != r.one)) {
				modes = append(modes, n)
			}
		}
		for _, one := range modes {
			mode := "all"
			if r := vars[one]; one != "" && r.hasAll {
				mode = one + "=" + r.one
			} else if one != "" {
				mode = one + "=" + r.alt
			}
			r := result{where: d.file, panel: p.Title, ref: t.RefID, mode: "table " + mode}
			u, err := interpolateURL(t.URL, vars, one, now, rangeDays(d.Time.From))
			if err == nil && len(unknown) > 0 {
				err = fmt.Errorf("the panel uses columns %v that its query does not have", unknown)
			}
			var rows []map[string]any
			if err == nil {
				rows, err = c.fetchRows(u)
			}
			r.series = len(rows)
			switch {
			case err != nil:
				fail(&r, "%v (GET %s)", err, u)
			case len(rows) == 0 && c.allowEmpty != nil && c.allowEmpty.MatchString(d.file+": "+p.Title):
				r.status = "empty (allowed)"
			case len(rows) == 0:
				fail(&r, "no rows (GET %s)", u)
			default:
				var missing []string
				for _, col := range cols {
					for i, row := range rows {
						if _, ok := row[col]; !ok {
							missing = append(missing, fmt.Sprintf("%q (row %d)", col, i))
							break
						}
					}
				}
				if len(missing) > 0 {
					fail(&r, "rows lack columns %s (GET %s)", strings.Join(missing, ", "), u)
				} else {
					r.status = fmt.Sprintf("ok: %d rows, %d columns", len(rows), len(cols))
				}
			}
			out = append(out, r)
		}
	}
	return out
}
