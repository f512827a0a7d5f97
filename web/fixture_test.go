package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
)

// The fixture workspace. Expected rows in the tests are worked out by hand
// from the documented rules (docs/reports.md) and the comments below, never copied from the code's output.
//
// now = 2026-11-10 12:00 UTC, LOOKBACK_DAYS=120, BILLING_ENGAGED_DAYS=56,
// channels Phone, Video Conference, Email, Chat (calls: Phone, Video
// Conference). Data window: 2026-11-10 - 120 days = 2026-07-13.
// Earliest billable month: first(M) - 56 >= 07-13, so first(M) >= 09-07:
// October 2026. Default month (previous): October 2026.
//
// Admins: a1 Alice Coach, a2 Bob Coach.
//
// Sessions (days since today, age band):
//
//	101 Phone  10-20 10:00 a2 [c1]     21d 8-28d
//	102 Video  09-10 09:00 a1 [c2]     61d 57d+   (raw "video conference ")
//	103 Email  11-01 09:00 a2 [c2]      9d 8-28d
//	104 Chat   10-15 09:00 a2 [c3]     26d 8-28d
//	105 Phone  08-01 09:00 a1 [c4]    101d 57d+
//	106 Phone  11-03 09:00 -- [c5]      7d 0-7d   (unassigned)
//	99  Phone  10-01 10:00 a1 [c6]     40d 29-56d
//	108 Phone  10-01 10:00 a1 [c6]     40d 29-56d (same time as 99; 108 > 99 as numbers)
//	109 Email  10-02 09:00 a2 [c6]     39d 29-56d
//	110 Chat   11-09 09:00 a1 [c7, c1]  1d 0-7d   (employer of c7, the first contact)
//	113 Phone  06-01 09:00 a1 [c4]    162d: outside the lookback
//
// Not sessions: 111 (open), 112 (channel SMS), 114 (no channel).
//
// Contacts:
//
//	c1 Zoe Zed        Acme      reg 10-05 owner a1  ext-1
//	c2 Adams, "Al"⏎Jr Acme      reg 03-01 no owner  (comma, quote, newline)
//	c3 Carl Chat      Beta Ltd  reg 06-01 owner a2
//	c4 Dana Old       Beta Ltd  reg 02-01 no owner, stored Last Coaching Call 10-20
//	c5 Eve Future     (none)    reg 11-02 no owner
//	c6 Finn Twice     Acme      reg 09-01 no owner
//	c7 aaron lower    " Acme "  not enrolled, no owner
//	c8 Gus Never      Beta Ltd  reg 10-20 no owner, no sessions
var fixtureNow = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

const fixtureTimestamp = "2026-11-10T12:00:00Z"

func fixtureConfig() engagement.Config {
	c := engagement.DefaultConfig()
	c.LookbackDays = 120
	return c
}

func utcAt(mo time.Month, d, h int) int64 {
	return time.Date(2026, mo, d, h, 0, 0, 0, time.UTC).Unix()
}

func regDay(mo time.Month, d int) *engagement.Stamp {
	day := engagement.DateDay(2026, mo, d)
	return &engagement.Stamp{Unix: day.Start(time.UTC).Unix(), Day: day}
}

// contactIndex is the index of contact id in contacts (as engagement.Data
// lists a conversation's contacts).
func contactIndex(contacts []engagement.Contact, id string) int32 {
	for i := range contacts {
		if contacts[i].ID == id {
			return int32(i)
		}
	}
	panic("no contact " + id)
}

func fixtureData() engagement.Data {
	contacts := []engagement.Contact{
		{ID: "c1", ExternalID: "ext-1", Name: "Zoe Zed", Email: "zoe@example.com", OwnerID: "a1", Employer: "Acme", Registration: regDay(10, 5)},
		{ID: "c2", ExternalID: "ext-2", Name: "Adams, \"Al\"\nJr", Email: "al@example.com", Employer: "Acme", Registration: regDay(3, 1)},
		{ID: "c3", Name: "Carl Chat", Email: "carl@example.com", OwnerID: "a2", Employer: "Beta Ltd", Registration: regDay(6, 1)},
		{ID: "c4", Name: "Dana Old", Email: "dana@example.com", Employer: "Beta Ltd", Registration: regDay(2, 1), StoredLastCall: regDay(10, 20)},
		{ID: "c5", Name: "Eve Future", Email: "eve@example.com", Registration: regDay(11, 2)},
		{ID: "c6", Name: "Finn Twice", Email: "finn@example.com", Employer: "Acme", Registration: regDay(9, 1)},
		{ID: "c7", Name: "aaron lower", Email: "aaron@example.com", Employer: " Acme "},
		{ID: "c8", Name: "Gus Never", Email: "gus@example.com", Employer: "Beta Ltd", Registration: regDay(10, 20)},
	}
	conv := func(id string, channel string, unix int64, admin string, ids ...string) engagement.Conversation {
		c := engagement.Conversation{ID: id, CreatedAt: unix, State: "closed", Channel: channel, AdminID: admin}
		for _, ct := range ids {
			c.ContactIdx = append(c.ContactIdx, contactIndex(contacts, ct))
		}
		return c
	}
	open := conv("111", "Phone", utcAt(11, 5, 9), "a1", "c1")
	open.State = "open"
	return engagement.Data{
		Admins:      []engagement.Admin{{ID: "a1", Name: "Alice Coach"}, {ID: "a2", Name: "Bob Coach"}},
		AdminsKnown: true,
		Contacts:    contacts,
		Conversations: []engagement.Conversation{
			conv("101", "Phone", utcAt(10, 20, 10), "a2", "c1"),
			conv("102", "video conference ", utcAt(9, 10, 9), "a1", "c2"),
			conv("103", "Email", utcAt(11, 1, 9), "a2", "c2"),
			conv("104", "Chat", utcAt(10, 15, 9), "a2", "c3"),
			conv("105", "Phone", utcAt(8, 1, 9), "a1", "c4"),
			conv("106", "Phone", utcAt(11, 3, 9), "", "c5"),
			conv("99", "Phone", utcAt(10, 1, 10), "a1", "c6"),
			conv("108", "Phone", utcAt(10, 1, 10), "a1", "c6"),
			conv("109", "Email", utcAt(10, 2, 9), "a2", "c6"),
			conv("110", "Chat", utcAt(11, 9, 9), "a1", "c7", "c1"),
			open,
			conv("112", "SMS", utcAt(10, 3, 9), "a1", "c1"),
			conv("113", "Phone", utcAt(6, 1, 9), "a1", "c4"),
			conv("114", "", utcAt(10, 4, 9), "a1", "c1"),
		},
	}
}

func fixtureModel() *engagement.Model {
	return engagement.Build(fixtureData(), fixtureConfig(), fixtureNow)
}

// fakeSource serves a model that tests can swap.
type fakeSource struct {
	model  atomic.Pointer[engagement.Model]
	mu     sync.Mutex
	status collector.Status
}

func newSource(m *engagement.Model) *fakeSource {
	s := &fakeSource{}
	if m != nil {
		s.model.Store(m)
		s.status = collector.Status{Ready: true, Up: true, LastSuccess: m.Now, LastAttempt: m.Now,
			LastDuration: 3 * time.Second, Interval: 15 * time.Minute, DataTimestamp: m.Now}
	}
	return s
}

func (s *fakeSource) Model() *engagement.Model { return s.model.Load() }
func (s *fakeSource) Status() collector.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// fakeSyncer answers with a fixed summary or error and records its calls.
type fakeSyncer struct {
	mu      sync.Mutex
	sum     engagement.Summary
	err     error
	calls   int
	dryRuns []bool
}

func (f *fakeSyncer) Sync(_ context.Context, dryRun bool) (engagement.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.dryRuns = append(f.dryRuns, dryRun)
	return f.sum, f.err
}

// fakeRefresher counts the refreshes asked for.
type fakeRefresher struct{ n atomic.Int32 }

func (f *fakeRefresher) RequestRefresh() { f.n.Add(1) }

var metricsHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = io.WriteString(w, "intercom_up 1\n")
})

// newTestServer is a Server over the fixture with member access allowed.
func newTestServer(t testing.TB, mutate ...func(*Options)) *Server {
	t.Helper()
	o := Options{
		Source:               newSource(fixtureModel()),
		Syncer:               &fakeSyncer{sum: engagement.Summary{Mode: engagement.ModeDryRun, Result: engagement.ResultSuccess}},
		Refresher:            &fakeRefresher{},
		Metrics:              metricsHandler,
		Version:              "1.2.3-test",
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
		AllowUnauthenticated: true,
	}
	for _, f := range mutate {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// response is a finished response.
type response struct {
	code   int
	header http.Header
	body   string
}

func do(t testing.TB, h http.Handler, method, target string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func get(t testing.TB, h http.Handler, target string) response {
	t.Helper()
	return do(t, h, http.MethodGet, target)
}

// readCSV parses a CSV body: the header row, then the records.
func readCSV(t testing.TB, body string) (header []string, rows [][]string) {
	t.Helper()
	r := csv.NewReader(strings.NewReader(body))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, body)
	}
	if len(recs) == 0 {
		t.Fatalf("CSV has no header row")
	}
	return recs[0], recs[1:]
}

// logBuffer is a goroutine-safe buffer for captured logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
