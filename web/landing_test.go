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
