package dashboards

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/web"
)

// The member tables read the exporter's JSON files through Grafana's
// Infinity data source (docs/dashboards.md).

const infinityType = "yesoreyeram-infinity-datasource"

var infinityDS = map[string]any{"type": infinityType, "uid": "${infinity}"}

func equalInfinity(m map[string]any) bool {
	return len(m) == 2 && m["type"] == infinityDS["type"] && m["uid"] == infinityDS["uid"]
}

type infinityColumn struct {
	Selector string `json:"selector"`
	Text     string `json:"text"`
	Type     string `json:"type"`
}

// infinityQuery is the Infinity part of a target.
type infinityQuery struct {
	Type    string           `json:"type"`
	Source  string           `json:"source"`
	Parser  string           `json:"parser"`
	URL     string           `json:"url"`
	Columns []infinityColumn `json:"columns"`
}

// endpoint is what one exporter endpoint returns and takes.
type endpoint struct {
	columns []string
	params  []string
}

// endpoints are the exporter's JSON endpoints, with the columns its code
// returns.
var endpoints = map[string]endpoint{
	"/caseload.csv": {slices.Concat(web.CaseloadColumns, web.CaseloadJSONColumns),
		[]string{"format", "coach", "employer", "channels", "band", "lookback_days"}},
	"/participants.csv": {slices.Concat(web.ParticipantColumns, web.ParticipantJSONColumns),
		[]string{"format", "coach", "employer", "band", "from", "to"}},
	"/sessions.csv": {web.SessionColumns,
		[]string{"format", "from", "to", "coach", "employer", "channel", "band"}},
	"/billing.csv": {slices.Concat(web.BillingColumns, web.BillingJSONColumns),
		[]string{"format", "month", "employer", "live"}},
	"/billing-exceptions.csv": {web.BillingExceptionColumns,
		[]string{"format", "month", "employer", "live"}},
	"/billing-months.json": {web.BillingMonthColumns, nil},
}

// tablePanel is the part of a panel the member-table checks read.
type tablePanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Transformations []struct {
		ID      string         `json:"id"`
		Options map[string]any `json:"options"`
	} `json:"transformations"`
}

var fieldRef = regexp.MustCompile(`__data\.fields\["([^"]+)"\]`)

// checkInfinityURL checks an Infinity URL against the endpoints and the
// dashboard's variables, and returns the endpoint.
func checkInfinityURL(t *testing.T, where, raw string, vars map[string]variable) (endpoint, bool) {
	t.Helper()
	path, query, _ := strings.Cut(raw, "?")
	ep, ok := endpoints[path]
	if !ok {
		t.Errorf("%s: URL %q is on no JSON endpoint of the exporter", where, raw)
		return ep, false
	}
	if strings.HasSuffix(path, ".csv") && !strings.Contains(query, "format=json") {
		t.Errorf("%s: URL %q does not ask for format=json", where, raw)
	}
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		// ${name:queryparam} expands to var-name=value&var-name=value...
		if m := regexp.MustCompile(`^\$\{(\w+):queryparam\}$`).FindStringSubmatch(part); m != nil {
			v, ok := vars[m[1]]
			switch {
			case !ok:
				t.Errorf("%s: undefined variable %s", where, m[1])
			case !slices.Contains(ep.params, m[1]):
				t.Errorf("%s: %s takes no filter %s (variable $%s)", where, path, m[1], m[1])
			case !v.IncludeAll || !v.Multi || v.AllValue != ".*":
				t.Errorf("%s: variable %s should be multi-value with All = .*", where, m[1])
			}
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if !slices.Contains(ep.params, name) {
			t.Errorf("%s: %s takes no parameter %q", where, path, name)
		}
		for _, m := range varRef.FindAllStringSubmatch(value, -1) {
			n := m[1] + m[2]
			if strings.HasPrefix(n, "__") {
				continue
			}
			v, ok := vars[n]
			if !ok {
				t.Errorf("%s: undefined variable %s", where, n)
			} else if v.Multi {
				t.Errorf("%s: multi-value variable %s must be spelled ${%s:queryparam} (repeated parameters)", where, n, n)
			}
		}
		if _, err := url.ParseQuery(varRef.ReplaceAllString(part, "x")); err != nil {
			t.Errorf("%s: %q does not parse: %v", where, part, err)
		}
	}
	return ep, true
}

func TestMemberTables(t *testing.T) {
	reportDashboards := map[string]bool{"caseload.json": true, "sessions.json": true, "participants.json": true, "engagement-billing.json": true}
	raws := loadRaw(t)
	for _, d := range load(t) {
		t.Run(d.file, func(t *testing.T) {
			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				vars[v.Name] = v
			}
			inf, ok := vars["infinity"]
			if reportDashboards[d.file] && (!ok || inf.Type != "datasource" || inf.Query != infinityType) {
				t.Errorf("no $infinity data source variable of type %s: %+v", infinityType, inf)
			}
			details := map[int]tablePanel{}
			for _, p := range raws[d.file] {
				details[p.ID] = p
			}
			tables := 0
			for _, p := range d.all() {
				if !equalInfinity(p.Datasource) {
					// Metric panels never depend on the plugin.
					for _, tg := range p.Targets {
						if equalInfinity(tg.Datasource) || strings.Contains(tg.Expr, "$infinity") || strings.Contains(tg.Expr, "$month") {
							t.Errorf("metric panel %q depends on the Infinity data source", p.Title)
						}
					}
					continue
				}
				tables++
				where := p.Title
				if p.Type != "table" {
					t.Errorf("%s: an Infinity panel is a table, not %s", where, p.Type)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no targets", where)
				}
				texts := map[string]bool{}
				for _, tg := range p.Targets {
					if !equalInfinity(tg.Datasource) {
						t.Errorf("%s: target %s datasource %v, want %v", where, tg.RefID, tg.Datasource, infinityDS)
					}
					if tg.Type != "json" || tg.Source != "url" || tg.Parser != "backend" {
						t.Errorf("%s: target %s is %s/%s/%s, want json/url/backend", where, tg.RefID, tg.Type, tg.Source, tg.Parser)
					}
					ep, ok := checkInfinityURL(t, where, tg.URL, vars)
					if !ok {
						continue
					}
					if len(tg.Columns) == 0 {
						t.Errorf("%s: target %s names no columns", where, tg.RefID)
					}
					for _, c := range tg.Columns {
						if !slices.Contains(ep.columns, c.Selector) {
							t.Errorf("%s: column %q is not returned by %s (it returns %v)", where, c.Selector, tg.URL, ep.columns)
						}
						texts[c.Text] = true
					}
				}
				// Overrides, links and transformations name only the columns.
				tp := details[p.ID]
				for _, o := range tp.FieldConfig.Overrides {
					if o.Matcher.ID == "byName" && !texts[o.Matcher.Options] {
						t.Errorf("%s: override on column %q, which the query does not have", where, o.Matcher.Options)
					}
					for _, prop := range o.Properties {
						if prop.ID != "links" {
							continue
						}
						for _, m := range fieldRef.FindAllStringSubmatch(toJSON(prop.Value), -1) {
							if !texts[m[1]] {
								t.Errorf("%s: link uses column %q, which the query does not have", where, m[1])
							}
						}
					}
				}
				for _, tr := range tp.Transformations {
					if tr.ID != "groupBy" {
						continue
					}
					fields, _ := tr.Options["fields"].(map[string]any)
					for f := range fields {
						if !texts[f] {
							t.Errorf("%s: groups by column %q, which the query does not have", where, f)
						}
					}
				}
			}
			if reportDashboards[d.file] && tables == 0 {
				t.Errorf("no member table")
			}
			// The month variable lists /billing-months.json.
			if v, ok := vars["month"]; ok {
				checkMonthVariable(t, v, vars)
			}
		})
	}
}

func checkMonthVariable(t *testing.T, v variable, vars map[string]variable) {
	t.Helper()
	if !equalInfinity(v.Datasource) || v.Multi || v.IncludeAll {
		t.Errorf("month: datasource %v multi %v includeAll %v, want a single month from Infinity", v.Datasource, v.Multi, v.IncludeAll)
	}
	q, _ := v.Query.(map[string]any)
	iq, _ := q["infinityQuery"].(map[string]any)
	u, _ := iq["url"].(string)
	if u != "/billing-months.json" {
		t.Errorf("month: URL %q, want /billing-months.json", u)
	}
	checkInfinityURL(t, "month", u, vars)
	cols, _ := iq["columns"].([]any)
	got := map[string]string{}
	for _, c := range cols {
		m, _ := c.(map[string]any)
		sel, _ := m["selector"].(string)
		text, _ := m["text"].(string)
		got[text] = sel
		if !slices.Contains(web.BillingMonthColumns, sel) {
			t.Errorf("month: column %q is not returned by /billing-months.json", sel)
		}
	}
	if got["__value"] != "Month" || got["__text"] == "" {
		t.Errorf("month: columns %v, want __value from Month and a __text", got)
	}
}

// The band variables offer exactly the bands of their report.
func TestBandVariables(t *testing.T) {
	want := map[string][]engagement.Band{
		"caseload.json": engagement.AgeBands, "sessions.json": engagement.AgeBands, "participants.json": engagement.ParticipantBands,
	}
	for _, d := range load(t) {
		for _, v := range d.Templating.List {
			if v.Name != "band" {
				continue
			}
			q, _ := v.Query.(string)
			if bands, ok := want[d.file]; !ok || q != strings.Join(engagement.BandNames(bands), ",") {
				t.Errorf("%s: band variable offers %q", d.file, q)
			}
			if v.Type != "custom" || !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("%s: band variable %+v, want a multi-value custom variable with All = .*", d.file, v)
			}
		}
	}
}

// One panel answers "Phone-only members by recency band": caseload rows
// whose channel mix is Phone alone, with their band.
func TestPhoneOnlyByBandPanel(t *testing.T) {
	for _, d := range load(t) {
		if d.file != "caseload.json" {
			continue
		}
		for _, p := range d.all() {
			if p.Title != "Phone-only members by recency band" {
				continue
			}
			for _, tg := range p.Targets {
				hasBand := slices.ContainsFunc(tg.Columns, func(c infinityColumn) bool { return c.Selector == "Band" })
				if strings.HasPrefix(tg.URL, "/caseload.csv?") && strings.Contains(tg.URL, "&channels=Phone&") &&
					strings.Contains(tg.URL, "${band:queryparam}") && hasBand {
					return
				}
				t.Errorf("panel %q: URL %q columns %v", p.Title, tg.URL, tg.Columns)
			}
		}
	}
	t.Errorf("caseload.json has no panel answering Phone-only members by recency band")
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// loadRaw reads the panels' overrides and transformations, by file.
func loadRaw(t *testing.T) map[string][]tablePanel {
	t.Helper()
	out := map[string][]tablePanel{}
	files, _ := filepath.Glob("*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				tablePanel
				Panels []tablePanel `json:"panels"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			out[f] = append(out[f], p.tablePanel)
			out[f] = append(out[f], p.Panels...)
		}
	}
	return out
}
