package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// What the member tables of the dashboards need from the report files
// (docs/dashboards.md): the filter rules of a dashboard's variables, the
// employers behind employer="(other)", links to Intercom and the billing
// months.

// MergedEmployers is implemented by a Source whose metrics merge the
// smallest employers into employer="(other)" (daemon.Exporter): for the
// reports computed from m, the employers merged, by metric family. A
// Source without it merges nothing.
type MergedEmployers interface {
	MergedEmployers(m *engagement.Model) map[string][]string
}

// filterParams filter rows by a label; the dashboards' variables feed them.
var filterParams = []string{"coach", "employer", "channel", "channels", "band"}

// meansAll reports whether a filter value means "no filter": empty, ".*"
// (the All value of the dashboards' regex variables) or "$__all" (what
// Grafana sends for All in a URL).
func meansAll(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || v == ".*" || v == "$__all"
}

// normaliseFilters folds var-<name> into <name> for the filters that are
// allowed, and drops a filter that has a value meaning All.
func normaliseFilters(v url.Values, allowed []string) {
	for _, name := range filterParams {
		if !slices.Contains(allowed, name) {
			continue
		}
		if alias, ok := v["var-"+name]; ok {
			v[name] = append(v[name], alias...)
			delete(v, "var-"+name)
		}
		if slices.ContainsFunc(v[name], meansAll) {
			delete(v, name)
		}
	}
}

// bands reads the band filter against one report's bands: names as
// spelled in the band label, any letter case; a "+" lost to URL decoding
// ("57d " for "57d+") still matches. Nil when absent.
func (q query) bands(bands []engagement.Band) (map[string]bool, error) {
	vals := q.v["band"]
	if len(vals) == 0 {
		return nil, nil
	}
	key := func(s string) string { return strings.ToLower(strings.Trim(s, "+ \t")) }
	names := engagement.BandNames(bands)
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		i := slices.IndexFunc(names, func(n string) bool { return key(n) == key(v) })
		if i < 0 {
			return nil, badf("unknown band %q; the bands of this report are %s", v, strings.Join(names, ", "))
		}
		set[names[i]] = true
	}
	return set, nil
}

// Metric families whose employer="(other)" each report's filter follows.
var (
	caseloadFamilies     = []string{"intercom_caseload_members", "intercom_caseload_channel_mix"}
	participantsFamilies = []string{"intercom_participants"}
	sessionsFamilies     = []string{"intercom_sessions"}
	billingFamilies      = []string{"intercom_billing_members"}
)

// otherEmployers are the employers that employer="(other)" stands for in
// the given families of m's metrics, sorted; nil when none was merged.
func (s *Server) otherEmployers(m *engagement.Model, families []string) []string {
	src, ok := s.o.Source.(MergedEmployers)
	if !ok {
		return nil
	}
	byFamily := src.MergedEmployers(m)
	var out []string
	for _, f := range families {
		for _, e := range byFamily[f] {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	slices.Sort(out)
	return out
}

// memberLinks makes the links of members to their page in Intercom, on the
// workspace's own host (its region, from INTERCOM_API_BASE) with the app id
// that GET /me named. Before the app id is known the links are empty.
func memberLinks(st collector.Status) func(contactID string) string {
	if st.WorkspaceID == "" {
		return func(string) string { return "" }
	}
	prefix := "https://" + appHost(st.APIHost) + "/a/apps/" + url.PathEscape(st.WorkspaceID) + "/users/"
	return func(id string) string {
		if id == "" {
			return ""
		}
		return prefix + url.PathEscape(id) + "/all-conversations"
	}
}

// appHost is Intercom's web application host for the API's host: the EU
// and Australian regions have their own; anything else (the US region, a
// proxy, a fake) links to the US host.
func appHost(apiHost string) string {
	switch strings.ToLower(apiHost) {
	case "api.eu.intercom.io":
		return "app.eu.intercom.com"
	case "api.au.intercom.io":
		return "app.au.intercom.com"
	}
	return "app.intercom.com"
}

// BillingMonthColumns are the keys of /billing-months.json.
var BillingMonthColumns = []string{"Month", "Label", "Frozen", "Frozen At", "Month To Date"}

// oldestFrozenMonths bounds how far before the earliest month the data can
// bill frozen months are looked for (ten years).
const oldestFrozenMonths = 120

// billingMonths serves /billing-months.json: the months /billing.csv
// serves, the previous month first (the default of /billing.csv and of the
// dashboards' month variable), then older ones, then the current month to
// date; frozen months are marked.
func (s *Server) billingMonths(w http.ResponseWriter, r *http.Request) {
	m := s.o.Source.Model()
	if m == nil {
		st := s.o.Source.Status()
		w.Header().Set("Retry-After", retryAfter(st))
		textError(w, http.StatusServiceUnavailable, notReadyReason(st))
		return
	}
	if _, err := parseQuery(r.URL.RawQuery, nil); err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	fb, _ := s.o.Source.(FrozenBilling)
	frozen := func(mo engagement.Month) (time.Time, bool) {
		if fb == nil {
			return time.Time{}, false
		}
		_, at, ok := fb.FrozenBilling(mo)
		return at, ok
	}
	type month struct {
		m        engagement.Month
		at       time.Time
		isFrozen bool
	}
	current, earliest := engagement.MonthOf(m.Today), m.EarliestBillingMonth()
	var months []month
	mo := current.Prev()
	for ; !mo.Before(earliest); mo = mo.Prev() {
		at, ok := frozen(mo)
		months = append(months, month{mo, at, ok})
	}
	// Before the data window only frozen months are served.
	for i := 0; i < oldestFrozenMonths; i, mo = i+1, mo.Prev() {
		if at, ok := frozen(mo); ok {
			months = append(months, month{mo, at, true})
		}
	}
	if !current.Before(earliest) {
		at, ok := frozen(current)
		months = append(months, month{current, at, ok})
	}
	t := table{columns: BillingMonthColumns, n: len(months), row: func(i int, d []value) {
		mo := months[i]
		label, at := mo.m.String(), ""
		switch {
		case mo.isFrozen:
			at = mo.at.Format(time.RFC3339)
			label += " (frozen " + mo.at.Format("2006-01-02") + ")"
		case mo.m == current:
			label += " (month to date)"
		}
		d[0], d[1], d[2], d[3], d[4] = str(mo.m.String()), str(label), flag(mo.isFrozen), str(at), flag(mo.m == current)
	}}
	h := w.Header()
	h.Set("X-Data-Timestamp", m.Now.Format(time.RFC3339))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if err := writeJSON(w, t); err != nil {
		s.log.Debug("Billing months not sent in full", "err", err)
	}
}
