package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// scrape GETs url and sums each family's values by one label ("" = total).
type scraped map[string]map[string]float64

func scrape(t *testing.T, url string, by map[string]string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	out := scraped{}
	for name, f := range fams {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == by[name] {
					key = l.GetValue()
				}
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			out[name][key] += v
			out[name]["*"] += v
		}
	}
	return out
}

// The documented rules (docs/reports.md) re-derived here from the generator's raw data, on
// purpose without the engagement package: a second, independent reading.
type independent struct {
	today      int // days since 1970-01-01 (UTC)
	nowUnix    int64
	sessions   int
	members    int
	enrolled   int
	status     map[string]int
	billing    map[string]int
	billingMon string
}

// dayNumber is the calendar date y-m-d counted in days since 1970-01-01.
func dayNumber(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// readTime: (instant, day in loc, ok); ok=false for missing or invalid.
func readTime(raw json.RawMessage, loc *time.Location) (int64, int, bool) {
	dayOf := func(u int64) int { return dayNumber(time.Unix(u, 0).In(loc).Date()) }
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, 0, false
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, 0, false
		}
		s = strings.TrimSpace(s)
		if d, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
			return d.Unix(), dayNumber(d.Date()), true
		}
		if tm, err := time.Parse(time.RFC3339, s); err == nil && tm.Unix() > 0 {
			return tm.Unix(), dayOf(tm.Unix()), true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f >= 1e11 {
		return 0, 0, false
	}
	return int64(f), dayOf(int64(f)), true
}

func channelKind(c intercom.Conversation) (session, call bool) {
	var ch string
	if json.Unmarshal(c.CustomAttributes["Channel"], &ch) != nil {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(ch)) {
	case "phone", "video conference":
		return true, true
	case "email", "chat":
		return true, false
	}
	return false, false
}

func derive(ws *intercomtest.Workspace, nowT time.Time, loc *time.Location) independent {
	dayOf := func(u int64) int { return dayNumber(time.Unix(u, 0).In(loc).Date()) }
	in := independent{today: dayOf(nowT.Unix()), nowUnix: nowT.Unix(), status: map[string]int{}, billing: map[string]int{}}
	y, m, d := nowT.In(loc).Date()
	start := time.Date(y, m, d-365, 0, 0, 0, 0, loc).Unix()
	lastCall := map[string]int64{}
	callDays := map[string][]int{}
	members := map[string]bool{}
	for _, c := range ws.Conversations() {
		session, call := channelKind(c)
		if c.State != "closed" || !session || c.UpdatedAt < start {
			continue
		}
		if dayOf(c.CreatedAt) >= in.today-365 {
			in.sessions++
		}
		for _, ref := range c.Contacts.Contacts {
			if dayOf(c.CreatedAt) >= in.today-365 {
				members[ref.ID] = true
			}
			if call {
				lastCall[ref.ID] = max(lastCall[ref.ID], c.CreatedAt)
				callDays[ref.ID] = append(callDays[ref.ID], dayOf(c.CreatedAt))
			}
		}
	}
	in.members = len(members)

	prev := time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC)
	in.billingMon = prev.Format("2006-01")
	first := dayNumber(prev.Date())
	last := dayNumber(y, m, 1) - 1
	for _, c := range ws.Contacts() {
		regDay, enrolled := 0, false
		for _, a := range []string{"Registration Date", "Enrolled Date"} {
			if _, d, ok := readTime(c.CustomAttributes[a], loc); ok {
				regDay, enrolled = d, true
				break
			}
		}
		if enrolled {
			in.enrolled++
		}
		lc, has := lastCall[c.ID]
		if stored, _, ok := readTime(c.CustomAttributes["Last Coaching Call"], loc); ok && stored <= in.nowUnix+86400 {
			lc, has = max(lc, stored), true
		}
		switch {
		case has:
			d := max(0, in.today-dayOf(lc))
			switch {
			case d <= 28:
				in.status["Engaged"]++
			case d <= 56:
				in.status["At Risk"]++
			default:
				in.status["Unengaged"]++
			}
		case enrolled:
			in.status["No Call"]++
		}
		if enrolled && regDay <= last {
			isNew := regDay >= first
			engaged := false
			for _, d := range callDays[c.ID] {
				if d >= first-56 && d <= last {
					engaged = true
				}
			}
			switch {
			case isNew && engaged:
				in.billing["new_and_engaged"]++
			case isNew:
				in.billing["new"]++
			case engaged:
				in.billing["engaged"]++
			}
		}
	}
	return in
}

func TestEndToEnd_ScrapedTotalsMatchAnIndependentReading(t *testing.T) {
	for _, tz := range []string{"UTC", "Pacific/Auckland"} {
		t.Run(tz, func(t *testing.T) { endToEnd(t, tz) })
	}
}

func endToEnd(t *testing.T, tz string) {
	loc, err := time.LoadLocation(tz)
	require.NoError(t, err)
	// 14:00 UTC on 30 April is 02:00 on 1 May in Auckland: today, the day
	// boundaries and the billing month (March or April) differ by zone.
	genNow := time.Date(2026, 4, 30, 14, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 42, Participants: 600, Conversations: 5000, Coaches: 8, Employers: 12, Now: genNow, Timezone: tz,
	})
	want := derive(ws, genNow, loc)
	require.Positive(t, want.sessions)
	require.Positive(t, want.billing["engaged"]+want.billing["new"]+want.billing["new_and_engaged"])

	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["SYNC_MODE"] = "dry-run"
	e["TIMEZONE"] = tz
	exp := newExporter(t, e, func() time.Time { return genNow }, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp)
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer web.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- exp.Run(ctx) }()
	require.Eventually(t, func() bool { return exp.Status().Ready }, 30*time.Second, 20*time.Millisecond)

	got := scrape(t, web.URL, map[string]string{
		"intercom_engagement_contacts": "status",
		"intercom_billing_members":     "reason",
	})
	assert.Equal(t, float64(want.sessions), got["intercom_sessions"]["*"], "sessions in the lookback")
	assert.Equal(t, float64(want.members), got["intercom_caseload_members"]["*"], "members")
	assert.Equal(t, float64(want.members), got["intercom_caseload_channel_mix"]["*"], "members by channel mix")
	assert.Equal(t, float64(want.enrolled), got["intercom_participants"]["*"], "enrolled participants")
	for _, s := range []string{"Engaged", "At Risk", "Unengaged", "No Call"} {
		assert.Equal(t, float64(want.status[s]), got["intercom_engagement_contacts"][s], "status %s", s)
	}
	for _, r := range []string{"new", "engaged", "new_and_engaged"} {
		assert.Equal(t, float64(want.billing[r]), got["intercom_billing_members"][r], "billing %s", r)
	}
	assert.Equal(t, 1.0, got["intercom_up"]["*"])
	assert.Equal(t, 1.0, got["intercom_refreshes_total"]["*"], "one refresh at start")
	assert.Equal(t, float64(genNow.Unix()), got["intercom_data_timestamp_seconds"]["*"])
	assert.Positive(t, got["intercom_api_requests_total"]["*"])
	assert.Positive(t, got["intercom_api_rate_limit"]["*"])
	t.Logf("independent reading: %+v", want)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
