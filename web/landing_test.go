package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/collector"
)

func TestLanding_LinksStatusDefinitionsVersion(t *testing.T) {
	src := newSource(fixtureModel())
	src.status = collector.Status{Ready: true, Up: false, Refreshing: true, LastSuccess: time.Now().Add(-90 * time.Second),
		LastAttempt: time.Now(), Interval: 15 * time.Minute, DataTimestamp: time.Now().Add(-150 * time.Second),
		LastError: `Intercom answered 401 <b>bad token</b>`}
	s := newTestServer(t, func(o *Options) {
		o.Source = src
		o.Definitions = []Definition{
			{Name: "ENGAGED_DAYS", Value: "28", Meaning: "Engaged when the last call is at most 28 days ago"},
			{Name: "<script>alert(1)</script>", Value: `"quoted" & <tag>`, Meaning: "escaped"},
		}
	})
	r := get(t, s.Handler(), "/")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %v", r.code, r.header)
	}
	for _, want := range []string{
		`href="/metrics"`, `href="/billing.csv?month=2026-10"`, `href="/caseload.csv"`, `href="/participants.csv"`,
		`href="/sessions.csv?from=2026-10-11&amp;to=2026-11-10"`, `href="/healthz"`, `href="/readyz"`, "<code>POST /sync</code>", "format=json",
		"Version 1.2.3-test",
		"ENGAGED_DAYS", "Engaged when the last call is at most 28 days ago",
		"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;quoted&#34; &amp; &lt;tag&gt;",
		"Intercom answered 401 &lt;b&gt;bad token&lt;/b&gt;",
		"1m30s ago", "15m0s", "data age 2m30s", "<code>POST /refresh</code>",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<b>bad token"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("landing page holds unescaped %q", bad)
		}
	}
	if strings.Contains(r.body, "answer 403") {
		t.Error("access warning shown although ALLOW_UNAUTHENTICATED is set")
	}
}

func TestLanding_BeforeFirstRefreshAndWithoutAccess(t *testing.T) {
	src := newSource(nil)
	src.status = collector.Status{Interval: 15 * time.Minute, Refreshing: true}
	s := newTestServer(t, func(o *Options) { o.Source = src; o.AllowUnauthenticated = false; o.Syncer = nil })
	r := get(t, s.Handler(), "/")
	if r.code != http.StatusOK {
		t.Fatalf("%d", r.code)
	}
	for _, want := range []string{"never", "not yet", "no data yet", `href="/billing.csv"`, "answer 403", "basic_auth_users"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "<code>POST /sync</code>") {
		t.Error("POST /sync listed while the sync is off")
	}
}

func TestLanding_DataQualityCounts(t *testing.T) {
	src := newSource(fixtureModel())
	src.status.InvalidValues = map[string]int{"Registration Date": 3, "Enrolled Date": 0, "Last Coaching Call": 2}
	src.status.BillingMonth, src.status.BillingExceptions, src.status.NoChannel = "2026-10", 4, 7
	r := get(t, newTestServer(t, func(o *Options) { o.Source = src }).Handler(), "/")
	for _, want := range []string{
		`<h2>Data quality</h2>`,
		`unreadable attribute values</th><td><span class="bad">5</span> (Enrolled Date: 0) (Last Coaching Call: 2) (Registration Date: 3)`,
		`billing exceptions, 2026-10</th><td><span class="bad">4</span>`,
		`href="/billing-exceptions.csv?month=2026-10"`,
		`closed conversations without a known channel, 2026-10</th><td><span class="bad">7</span>`,
		"<code>POST /API/intercom</code>",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	before := newSource(nil)
	if r := get(t, newTestServer(t, func(o *Options) { o.Source = before }).Handler(), "/"); strings.Contains(r.body, "Data quality") {
		t.Error("a data quality section before any data")
	}
}
