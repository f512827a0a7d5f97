package web

import (
	"bytes"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// landingPage is rendered on every request: the status and the example
// links follow the published data.
var landingPage = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Intercom exporter</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
code { background: #f4f4f4; padding: 0 0.2em; }
.bad { color: #b00; }
</style>
</head>
<body>
<h1>Intercom exporter</h1>
<p>Version {{.Version}}</p>

<h2>Endpoints</h2>
<table>
<tr><th>endpoint</th><th>what</th></tr>
{{range .Links}}<tr><td>{{if .Href}}<a href="{{.Href}}">{{.Label}}</a>{{else}}<code>{{.Label}}</code>{{end}}</td><td>{{.What}}</td></tr>
{{end}}</table>
{{if not .MemberAccess}}<p class="bad">Member data (the CSV endpoints) and POST /sync answer 403: {{.AccessHelp}}</p>{{end}}

<h2>Last refresh</h2>
<table>
<tr><th>up</th><td>{{if .Status.Up}}yes{{else}}<span class="bad">no</span>{{end}}</td></tr>
<tr><th>reports published</th><td>{{if .Status.Ready}}yes{{else}}<span class="bad">not yet</span>{{end}}</td></tr>
<tr><th>refreshing now</th><td>{{if .Status.Refreshing}}yes{{else}}no{{end}}</td></tr>
<tr><th>last success</th><td>{{if .Status.LastSuccess.IsZero}}never{{else}}{{.Status.LastSuccess.Format "2006-01-02T15:04:05Z07:00"}} ({{.Age}} ago){{end}}</td></tr>
<tr><th>last attempt</th><td>{{if .Status.LastAttempt.IsZero}}never{{else}}{{.Status.LastAttempt.Format "2006-01-02T15:04:05Z07:00"}}, took {{.Status.LastDuration}}{{end}}</td></tr>
<tr><th>last error</th><td>{{if .Status.LastError}}<span class="bad">{{.Status.LastError}}</span>{{else}}none{{end}}</td></tr>
<tr><th>data current as of</th><td>{{if .Status.DataTimestamp.IsZero}}no data yet{{else}}{{.Status.DataTimestamp.Format "2006-01-02T15:04:05Z07:00"}} (data age {{.DataAge}}: the start of the last successful read, changed or not){{end}}</td></tr>
<tr><th>refresh interval</th><td>{{.Status.Interval}}</td></tr>
</table>

{{with .Quality}}<h2>Data quality</h2>
<table>
<tr><th>unreadable attribute values</th><td>{{if .Invalid}}<span class="bad">{{.Invalid}}</span>{{else}}0{{end}}{{range .InvalidBy}} ({{.Name}}: {{.N}}){{end}}</td><td>contacts whose time attribute is set but cannot be read: not enrolled, or no stored last call (intercom_invalid_attribute_values)</td></tr>
<tr><th>billing exceptions, {{.Month}}</th><td>{{if .Exceptions}}<span class="bad">{{.Exceptions}}</span>{{else}}0{{end}}</td><td>contacts with a call in the month's engaged window left out of billing: see <a href="{{.ExceptionsHref}}">/billing-exceptions.csv</a></td></tr>
<tr><th>closed conversations without a known channel, {{.Month}}</th><td>{{if .NoChannel}}<span class="bad">{{.NoChannel}}</span>{{else}}0{{end}}</td><td>closed conversations created in the month's engaged window whose channel attribute is missing or not a session channel: calls that may be lost to billing</td></tr>
</table>
{{end}}
<h2>Definitions</h2>
<p>The rules in full, with worked examples: <a href="https://github.com/coaching/intercom_exporter/blob/main/docs/reports.md">docs/reports.md</a>; every setting: <a href="https://github.com/coaching/intercom_exporter/blob/main/docs/configuration.md">docs/configuration.md</a>.</p>
<table>
<tr><th>name</th><th>value</th><th>meaning</th></tr>
{{range .Definitions}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td><td>{{.Meaning}}</td></tr>
{{end}}</table>
</body>
</html>
`))

type landingLink struct {
	Label, Href, What string
}

// landingQuality is the data quality section: counts finance and
// coaching leads act on.
type landingQuality struct {
	Invalid        int
	InvalidBy      []landingCount
	Month          string
	Exceptions     int
	ExceptionsHref string
	NoChannel      int
}

type landingCount struct {
	Name string
	N    int
}

type landingData struct {
	Quality      *landingQuality
	Version      string
	Links        []landingLink
	MemberAccess bool
	AccessHelp   string
	Status       collector.Status
	Age          time.Duration
	// DataAge is time() - intercom_data_timestamp_seconds.
	DataAge     time.Duration
	Definitions []Definition
}

func (s *Server) landing(w http.ResponseWriter, _ *http.Request) {
	st := s.o.Source.Status()
	d := landingData{
		Version:      s.o.Version,
		MemberAccess: s.memberAccess(),
		AccessHelp:   AccessHelp,
		Status:       st,
		Definitions:  s.o.Definitions,
	}
	if !st.LastSuccess.IsZero() {
		d.Age = time.Since(st.LastSuccess).Truncate(time.Second)
	}
	d.Quality = landingQualityOf(st)
	if !st.DataTimestamp.IsZero() {
		d.DataAge = time.Since(st.DataTimestamp).Truncate(time.Second)
	}
	// Example periods follow the published data; before it, plain links.
	billing, sessions := "/billing.csv", "/sessions.csv"
	if m := s.o.Source.Model(); m != nil {
		billing += "?" + url.Values{"month": {engagement.MonthOf(m.Today).Prev().String()}}.Encode()
		sessions += "?" + url.Values{"from": {(m.Today - 30).String()}, "to": {m.Today.String()}}.Encode()
	}
	d.Links = []landingLink{
		{"/metrics", "/metrics", "Prometheus metrics, from the published snapshot"},
		{"/billing.csv", billing, "billing cohort of a month (?month=YYYY-MM, default the previous month; employer=NAME, may repeat; live=true for the live computation of a frozen month)"},
		{"/billing-exceptions.csv", "/billing-exceptions.csv", "contacts with a call in a month's engaged window left out of its billing cohort, with the reason (same parameters as /billing.csv)"},
		{"/caseload.csv", "/caseload.csv", "one row per member with a session in the lookback (coach, employer, channels, lookback_days)"},
		{"/participants.csv", "/participants.csv", "one row per enrolled participant (coach, employer, from, to: registration dates)"},
		{"/sessions.csv", sessions, "one row per session in a date range (from, to required; coach, employer, channel)"},
		{"?format=json", "", "on any report: the same rows as JSON, for Grafana's Infinity data source"},
		{"/healthz", "/healthz", "alive"},
		{"/readyz", "/readyz", "ready once reports are published"},
	}
	if s.o.Syncer != nil {
		d.Links = append(d.Links, landingLink{"POST /sync", "", "run the engagement sync now (?dry_run=true only plans): curl -X POST"},
			landingLink{"POST /API/intercom", "", `the same, at the original app's path; body {"dryRun": true} only plans`})
	}
	if s.o.Refresher != nil {
		d.Links = append(d.Links, landingLink{"POST /refresh", "", "read what changed in Intercom now (202; one more runs after a running refresh): curl -X POST, or send the process SIGHUP"})
	}
	var buf bytes.Buffer
	if err := landingPage.Execute(&buf, d); err != nil {
		s.log.Error("Landing page failed", "err", err)
		textError(w, http.StatusInternalServerError, "the landing page could not be rendered")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// landingQualityOf is the data quality section of the published reports,
// nil before any.
func landingQualityOf(st collector.Status) *landingQuality {
	if !st.Ready {
		return nil
	}
	q := &landingQuality{Month: st.BillingMonth, Exceptions: st.BillingExceptions, NoChannel: st.NoChannel,
		ExceptionsHref: "/billing-exceptions.csv?" + url.Values{"month": {st.BillingMonth}}.Encode()}
	for _, name := range slices.Sorted(maps.Keys(st.InvalidValues)) {
		n := st.InvalidValues[name]
		q.Invalid += n
		q.InvalidBy = append(q.InvalidBy, landingCount{name, n})
	}
	return q
}
