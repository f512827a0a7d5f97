// Package dashboards holds the Grafana dashboards of intercom_exporter (classic JSON,
// importable in Grafana 10-12). This test checks their structure and that every
// query only uses metrics, labels and label values that the exporter exports.
package dashboards

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exported lists every metric of docs/metrics.md with its labels (besides the
// job and instance labels Prometheus adds). Keep it in step with docs/metrics.md.
var exported = map[string][]string{
	// Reports.
	"intercom_caseload_members":     {"coach", "employer", "band"},
	"intercom_caseload_channel_mix": {"coach", "employer", "channels"},
	"intercom_sessions":             {"coach", "employer", "channel", "band"},
	"intercom_participants":         {"coach", "employer", "band"},
	"intercom_engagement_contacts":  {"employer", "status"},
	"intercom_billing_members":      {"month", "employer", "reason"},
	"intercom_billing_exceptions":   {"month", "employer", "reason"},
	// Health.
	"intercom_up": nil,
	"intercom_refresh_last_success_timestamp_seconds": nil,
	"intercom_data_timestamp_seconds":                 nil,
	"intercom_last_refresh_duration_seconds":          nil,
	"intercom_refresh_interval_seconds":               nil,
	"intercom_refreshes_total":                        nil,
	"intercom_refresh_failures_total":                 nil,
	"intercom_api_requests_total":                     {"endpoint", "code"},
	"intercom_api_rate_limit":                         nil,
	"intercom_api_rate_limit_remaining":               nil,
	"intercom_invalid_attribute_values":               {"attribute"},
	"intercom_merged_employers":                       {"family"},
	"intercom_sync_runs_total":                        {"mode", "result"},
	"intercom_sync_last_success_timestamp_seconds":    nil,
	"intercom_sync_contacts_updated_total":            {"status"},
	"intercom_sync_failures_total":                    nil,
	"intercom_state_save_failures_total":              nil,
	"intercom_state_set_aside_files":                  nil,
	// Build info from the standard version collector.
	"intercom_exporter_build_info": {"version", "revision", "branch", "goversion", "goos", "goarch", "tags"},
	// Written by Prometheus itself for every target.
	"up": nil,
}

// fixedValues are the label values that docs/metrics.md fixes, per metric and label.
var fixedValues = map[string]map[string][]string{
	"intercom_caseload_members":            {"band": {"0-7d", "8-28d", "29-56d", "57d+"}},
	"intercom_sessions":                    {"band": {"0-7d", "8-28d", "29-56d", "57d+"}},
	"intercom_participants":                {"band": {"0-13d", "14-21d", "22-28d", "29d+"}},
	"intercom_engagement_contacts":         {"status": {"Engaged", "At Risk", "Unengaged", "No Call"}},
	"intercom_billing_members":             {"reason": {"new", "engaged", "new_and_engaged"}},
	"intercom_billing_exceptions":          {"reason": {"missing_registration", "invalid_registration", "registered_after_month"}},
	"intercom_sync_runs_total":             {"mode": {"dry-run", "apply"}, "result": {"success", "partial", "failed", "blocked"}},
	"intercom_sync_contacts_updated_total": {"status": {"Engaged", "At Risk", "Unengaged"}},
}

var ds = map[string]any{"type": "prometheus", "uid": "${datasource}"}

type target struct {
	RefID      string         `json:"refId"`
	Datasource map[string]any `json:"datasource"`
	Expr       string         `json:"expr"`
	Instant    bool           `json:"instant"`
	Range      bool           `json:"range"`
	Format     string         `json:"format"`
	// Infinity queries (member tables).
	infinityQuery
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  map[string]any `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Steps []any `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // collapsed rows
}

type variable struct {
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	Query      any            `json:"query"`
	Definition string         `json:"definition"`
	Datasource map[string]any `json:"datasource"`
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
}

type dashboard struct {
	file          string
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []dashboard
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: invalid JSON: %v", f, err)
		}
		d.file = f
		out = append(out, d)
	}
	return out
}

// all returns the panels, rows' nested panels included.
func (d dashboard) all() []panel {
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

func TestDashboardSet(t *testing.T) {
	want := []string{"caseload.json", "engagement-billing.json", "exporter-health.json", "participants.json", "sessions.json"}
	var got []string
	uids, titles := map[string]string{}, map[string]string{}
	for _, d := range load(t) {
		got = append(got, d.file)
		if d.UID == "" || len(d.UID) > 40 {
			t.Errorf("%s: uid %q must be set and at most 40 characters", d.file, d.UID)
		}
		if prev, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q already used by %s", d.file, d.UID, prev)
		}
		uids[d.UID] = d.file
		if prev, ok := titles[d.Title]; ok || d.Title == "" {
			t.Errorf("%s: title %q empty or already used by %s", d.file, d.Title, prev)
		}
		titles[d.Title] = d.file
		if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
			t.Errorf("%s: schemaVersion %d, want a classic-schema version importable in Grafana 10-12", d.file, d.SchemaVersion)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("dashboards %v, want %v", got, want)
	}
}

var varRef = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?|\[\[(\w+)\]\]`)

func TestVariables(t *testing.T) {
	for _, d := range load(t) {
		t.Run(d.file, func(t *testing.T) {
			defined := map[string]variable{}
			for _, v := range d.Templating.List {
				defined[v.Name] = v
			}
			dsv, ok := defined["datasource"]
			if !ok || dsv.Type != "datasource" || dsv.Query != "prometheus" {
				t.Errorf("no datasource variable of type prometheus: %+v", dsv)
			}
			used := map[string]bool{}
			for _, p := range d.all() {
				for _, tg := range p.Targets {
					for _, m := range varRef.FindAllStringSubmatch(tg.Expr+" "+tg.URL, -1) {
						name := m[1] + m[2]
						if strings.HasPrefix(name, "__") {
							continue // Grafana built-in
						}
						used[name] = true
						if _, ok := defined[name]; !ok {
							t.Errorf("panel %q uses undefined variable $%s", p.Title, name)
						}
					}
					// Multi-value variables expand to a regex: only =~ / !~ work.
					if m := regexp.MustCompile(`\w+\s*!?=\s*"[^"]*\$`).FindString(tg.Expr); m != "" {
						t.Errorf("panel %q: %q matches a variable with = instead of =~", p.Title, m)
					}
				}
			}
			for _, v := range d.Templating.List {
				if v.Type == "custom" && !used[v.Name] {
					t.Errorf("variable %s is not used by any query", v.Name)
				}
				if v.Type != "query" || equalInfinity(v.Datasource) {
					continue // the month variable: TestMemberTables
				}
				if !used[v.Name] {
					t.Errorf("variable %s is not used by any query", v.Name)
				}
				if !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
					t.Errorf("variable %s: multi %v includeAll %v allValue %q, want multi-select with All = .*", v.Name, v.Multi, v.IncludeAll, v.AllValue)
				}
				if !equalDS(v.Datasource) {
					t.Errorf("variable %s: datasource %v, want %v", v.Name, v.Datasource, ds)
				}
				m := regexp.MustCompile(`^label_values\((\w+)\s*,\s*(\w+)\)$`).FindStringSubmatch(v.Definition)
				if m == nil {
					t.Errorf("variable %s: definition %q, want label_values(metric, label)", v.Name, v.Definition)
					continue
				}
				if q, _ := v.Query.(string); q != v.Definition {
					t.Errorf("variable %s: query %v does not match its definition", v.Name, v.Query)
				}
				labels, ok := exported[m[1]]
				if !ok {
					t.Errorf("variable %s: unknown metric %s", v.Name, m[1])
				}
				if m[2] != v.Name || !(slices.Contains(labels, m[2]) || m[2] == "job" || m[2] == "instance") {
					t.Errorf("variable %s reads label %s of %s", v.Name, m[2], m[1])
				}
			}
		})
	}
}

func equalDS(m map[string]any) bool {
	return len(m) == 2 && m["type"] == ds["type"] && m["uid"] == ds["uid"]
}

var instantTypes = map[string]bool{"stat": true, "bargauge": true, "piechart": true, "table": true, "gauge": true}

func TestPanels(t *testing.T) {
	for _, d := range load(t) {
		t.Run(d.file, func(t *testing.T) {
			ids := map[int]string{}
			for _, p := range d.all() {
				if prev, ok := ids[p.ID]; ok || p.ID == 0 {
					t.Errorf("panel %q: id %d missing or already used by %q", p.Title, p.ID, prev)
				}
				ids[p.ID] = p.Title
				if p.Type == "row" || p.Type == "text" {
					continue
				}
				if p.Title == "" || len(p.Description) < 40 {
					t.Errorf("panel %d %q: needs a title and a description that states the definition", p.ID, p.Title)
				}
				if p.FieldConfig.Defaults.Unit == "" {
					t.Errorf("panel %q: no unit", p.Title)
				}
				if len(p.FieldConfig.Defaults.Thresholds.Steps) == 0 {
					t.Errorf("panel %q: no thresholds", p.Title)
				}
				if equalInfinity(p.Datasource) {
					continue // a member table: TestMemberTables
				}
				if !equalDS(p.Datasource) {
					t.Errorf("panel %q: datasource %v, want %v", p.Title, p.Datasource, ds)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: no targets", p.Title)
				}
				if instantTypes[p.Type] && !strings.Contains(p.Description, "selected") {
					t.Errorf("panel %q: a current-state panel must say what the selected time range means", p.Title)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if refs[tg.RefID] || tg.RefID == "" {
						t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
					}
					refs[tg.RefID] = true
					if !equalDS(tg.Datasource) {
						t.Errorf("panel %q target %s: datasource %v, want %v", p.Title, tg.RefID, tg.Datasource, ds)
					}
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q target %s: no expr", p.Title, tg.RefID)
					}
					switch {
					case instantTypes[p.Type] && (!tg.Instant || tg.Range):
						t.Errorf("panel %q (%s) target %s: current-state panels use instant queries", p.Title, p.Type, tg.RefID)
					case p.Type == "timeseries" && (tg.Instant || !tg.Range):
						t.Errorf("panel %q target %s: a time series needs range queries", p.Title, tg.RefID)
					}
					if p.Type == "table" && tg.Format != "table" {
						t.Errorf("panel %q target %s: table panels use format table", p.Title, tg.RefID)
					}
					checkExpr(t, p.Title, tg.Expr)
				}
			}
		})
	}
}

// Alert rules use the same metric names.
func TestAlertExprsUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			checkExpr(t, "alert "+r.Alert, r.Expr)
		}
	}
}

var (
	strLit    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selector  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}`)
	matcher   = regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	offset    = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	rangeSel  = regexp.MustCompile(`\[([^\]]*)\]`)
	keywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
	rateFuncs = regexp.MustCompile(`\b(rate|irate|increase|delta|deriv|changes|resets|\w+_over_time)\s*\(`)
)

// metricsOf returns the metric names an expression selects.
func metricsOf(expr string) []string {
	e := strLit.ReplaceAllString(expr, `""`)
	e = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(e, " ")
	e = rangeSel.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	e = offset.ReplaceAllString(e, " ")
	e = regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(e, " ")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && regexp.MustCompile(`[0-9.]`).MatchString(e[loc[0]-1:loc[0]]) {
			continue // part of a number such as 1e3
		}
		if keywords[name] || regexp.MustCompile(`^\s*\(`).MatchString(e[loc[1]:]) {
			continue // keyword, function or aggregation
		}
		out = append(out, name)
	}
	return out
}

func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	if regexp.MustCompile(`vector\s*\(`).MatchString(expr) {
		t.Errorf("%s: %q uses vector(): missing data must stay missing, not turn into a number", where, expr)
	}
	names := metricsOf(expr)
	if len(names) == 0 {
		t.Errorf("%s: no metric found in %q", where, expr)
	}
	for _, n := range names {
		_, ok := exported[n]
		if !ok && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			t.Errorf("%s: metric %s is not exported by intercom_exporter (expr %q)", where, n, expr)
		}
	}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		metric := m[1]
		labels, known := exported[metric]
		for _, mm := range matcher.FindAllStringSubmatch(m[2], -1) {
			label, op, value := mm[1], mm[2], mm[3]
			if known && label != "job" && label != "instance" && !slices.Contains(labels, label) {
				t.Errorf("%s: %s has no label %s", where, metric, label)
			}
			allowed := fixedValues[metric][label]
			if allowed == nil || strings.Contains(value, "$") {
				continue
			}
			var values []string
			switch {
			case op == "=" || op == "!=":
				values = []string{value}
			case regexp.MustCompile(`^[\w +\-]+(\|[\w +\-]+)*$`).MatchString(value):
				values = strings.Split(value, "|")
			}
			for _, v := range values {
				if !slices.Contains(allowed, v) {
					t.Errorf("%s: %s{%s} value %q is not one of %v", where, metric, label, v, allowed)
				}
			}
		}
	}
	// Rates and increases use Grafana's windows, never a hard-coded one, so they
	// follow the scrape interval and the time picker.
	if !strings.HasPrefix(where, "alert ") {
		for _, m := range rangeSel.FindAllStringSubmatch(expr, -1) {
			if m[1] != "$__rate_interval" && m[1] != "$__range" {
				t.Errorf("%s: range [%s]: use $__rate_interval (or $__range for a total over the picked range)", where, m[1])
			}
		}
		for _, loc := range rateFuncs.FindAllStringIndex(expr, -1) {
			if strings.HasPrefix(expr[loc[0]:], "rate") || strings.HasPrefix(expr[loc[0]:], "irate") {
				rest := expr[loc[1]:]
				if r := rangeSel.FindStringSubmatch(rest); r == nil || r[1] != "$__rate_interval" {
					t.Errorf("%s: rate() must use [$__rate_interval]: %q", where, expr)
				}
			}
		}
	}
}

// The checker itself, on expressions whose answer is known.
func TestMetricsOf(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (band) (intercom_sessions{band="0-7d", coach=~"$coach"})`:                                  {"intercom_sessions"},
		`topk(10, sum by (coach) (intercom_participants{band="29d+"}))`:                                    {"intercom_participants"},
		`time() - intercom_refresh_last_success_timestamp_seconds > 3 * intercom_refresh_interval_seconds`: {"intercom_refresh_last_success_timestamp_seconds", "intercom_refresh_interval_seconds"},
		`sum(x offset 7d) / 1e3 and on (job) rate(y_total[$__rate_interval])`:                              {"x", "y_total"},
	} {
		if got := metricsOf(expr); !slices.Equal(got, want) {
			t.Errorf("metricsOf(%q) = %v, want %v", expr, got, want)
		}
	}
}
