package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/replica"
	"github.com/coaching/intercom_exporter/state"
)

const testToken = "tok_collector_test_5f2b9c"

// now is the "now" of the hand-made workspace: Sunday 15 March 2026, noon
// UTC. Today is 2026-03-15; the billing month is 2026-02.
var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func unix(y int, m time.Month, d, h int) int64 {
	return time.Date(y, m, d, h, 0, 0, 0, time.UTC).Unix()
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func contact(id, employer string, attrs map[string]any) intercom.Contact {
	c := intercom.Contact{ID: id, Role: "user", Name: "Name " + id, Email: id + "@example.com",
		CreatedAt: unix(2025, 1, 1, 0), UpdatedAt: unix(2026, 1, 1, 0), CustomAttributes: intercom.Attributes{}}
	if employer != "" {
		c.CustomAttributes[intercomtest.AttrEmployer] = raw(employer)
	}
	for k, v := range attrs {
		c.CustomAttributes[k] = raw(v)
	}
	return c
}

func conversation(id, state, channel, admin string, created int64, contacts ...string) intercom.Conversation {
	c := intercom.Conversation{ID: id, State: state, CreatedAt: created, UpdatedAt: created + 3600,
		AdminAssigneeID: intercom.ID(admin)}
	if channel != "" {
		c.CustomAttributes = intercom.Attributes{intercomtest.AttrChannel: raw(channel)}
	}
	for _, ct := range contacts {
		c.Contacts.Contacts = append(c.Contacts.Contacts, intercom.ContactRef{ID: ct})
	}
	return c
}

// smallWorkspace is the hand-made workspace of the golden test. Its
// expected numbers are worked out in TestGolden_SmallWorkspace.
func smallWorkspace() *intercomtest.Workspace {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Alice Coach", Email: "alice@coaching.example"})
	ws.AddAdmin(intercom.Admin{ID: "102", Name: "Bob Coach", Email: "bob@coaching.example"})

	c1 := contact("c1", "Acme", map[string]any{intercomtest.AttrRegistrationDate: unix(2026, 1, 10, 9)})
	c1.OwnerID = "101"
	ws.AddContact(c1)
	ws.AddContact(contact("c2", " Globex ", map[string]any{
		intercomtest.AttrRegistrationDate: "early January", // invalid
		intercomtest.AttrEnrolledDate:     "2026-02-20",    // valid: a calendar day
	}))
	ws.AddContact(contact("c3", "Acme", map[string]any{
		intercomtest.AttrRegistrationDate: unix(2026, 1, 5, 0) * 1000, // milliseconds: invalid
		intercomtest.AttrLastCoachingCall: unix(2026, 1, 20, 15),
		intercomtest.AttrEngagementStatus: "At Risk",
	}))
	ws.AddContact(contact("c4", "", map[string]any{intercomtest.AttrRegistrationDate: unix(2025, 12, 1, 8)}))
	ws.AddContact(contact("c5", "Globex", nil))
	ws.AddContact(contact("c6", "Acme", map[string]any{intercomtest.AttrLastCoachingCall: unix(2026, 3, 1, 0) * 1000}))
	ws.AddContact(contact("c7", "Initech", nil)) // on no conversation, no attribute: never read

	ws.AddConversation(conversation("1001", "closed", "Phone", "101", unix(2026, 3, 10, 10), "c1"))
	ws.AddConversation(conversation("1002", "closed", " video conference ", "102", unix(2026, 2, 1, 14), "c1", "c2"))
	ws.AddConversation(conversation("1003", "closed", "Email", "0", unix(2026, 3, 1, 9), "c5"))
	ws.AddConversation(conversation("1004", "open", "Phone", "101", unix(2026, 3, 12, 9), "c2"))
	ws.AddConversation(conversation("1005", "closed", "SMS", "101", unix(2026, 3, 13, 9), "c4"))
	ws.AddConversation(conversation("1006", "closed", "Chat", "101", unix(2025, 1, 1, 9), "c4"))
	ws.AddConversation(conversation("1007", "closed", "Phone", "999", unix(2025, 6, 1, 9), "c3"))
	ws.AddConversation(conversation("1008", "closed", "", "102", unix(2026, 3, 14, 9), "c3"))
	return ws
}

// env is a test configuration pointing at a fake server.
type env map[string]string

func newEnv(srv *intercomtest.Server) env {
	return env{
		"INTERCOM_ACCESS_TOKEN": testToken,
		"INTERCOM_API_BASE":     srv.URL(),
		"RETRY_MAX_ATTEMPTS":    "2",
		"RETRY_BACKOFF":         "5ms",
		"RETRY_MAX_BACKOFF":     "20ms",
		"REQUEST_TIMEOUT":       "5s",
		"SYNC_MODE":             "apply",
	}
}

func startFake(t testing.TB, ws *intercomtest.Workspace, o intercomtest.Options) *intercomtest.Server {
	t.Helper()
	o.Token = testToken
	srv := intercomtest.NewServer(ws, o)
	t.Cleanup(srv.Close)
	return srv
}

// harness is an Exporter with its collector, wired as main wires them.
type harness struct {
	*daemon.Exporter
	col *collector.Collector
}

func (h *harness) Describe(ch chan<- *prometheus.Desc) { h.col.Describe(ch) }
func (h *harness) Collect(ch chan<- prometheus.Metric) { h.col.Collect(ch) }
func (h *harness) Health() prometheus.Collector        { return h.col.Health() }
func (h *harness) MetricsHandler(g prometheus.Gatherer, opts promhttp.HandlerOpts, log *slog.Logger) http.Handler {
	return h.col.MetricsHandler(g, opts, log)
}

func newExporter(t testing.TB, e env, nowFn func() time.Time, logOut io.Writer) *harness {
	t.Helper()
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(e))
	require.NoError(t, err)
	if logOut == nil {
		logOut = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rules := cfg.Engagement()
	rset := replica.Settings{
		Rules: rules, ChannelAttribute: cfg.ChannelAttribute, EmployerAttribute: cfg.EmployerAttribute,
		RegistrationAttributes: cfg.RegistrationAttributes, LastCallAttribute: cfg.LastCallAttribute,
		StatusAttribute: cfg.StatusAttribute, RefreshConcurrency: cfg.RefreshConcurrency,
		FullRefreshInterval: cfg.FullRefreshInterval, SlowRefreshInterval: cfg.SlowRefreshInterval,
		Overlap: cfg.IncrementalOverlap,
	}
	col := collector.New(collector.Settings{RefreshInterval: cfg.RefreshInterval, MaxSeriesPerFamily: cfg.MaxSeriesPerFamily,
		TimeAttributes: rset.TimeAttributes(), SyncMode: cfg.Mode()}, log)
	client, err := intercom.New(cfg.APIBase, cfg.AccessToken.Reveal(), cfg.Version,
		intercom.WithObserver(col), intercom.WithLogger(log), intercom.WithRequestTimeout(cfg.RequestTimeout),
		intercom.WithRetry(cfg.RetryMaxAttempts, cfg.RetryBackoff, cfg.RetryMaxBackoff))
	require.NoError(t, err)
	runner := engagement.NewRunner(daemon.NewContactWriter(client.Share(0.5), cfg.LastCallAttribute, cfg.StatusAttribute),
		engagement.RunnerOptions{Concurrency: cfg.SyncConcurrency, MaxWrites: cfg.SyncMaxWrites, Now: nowFn})
	exp := daemon.New(daemon.Settings{
		Rules: rules, RefreshInterval: cfg.RefreshInterval, RefreshTimeout: cfg.RefreshTimeout,
		FullRefreshTimeout: cfg.FullRefreshTimeout,
		SyncMode:           cfg.Mode(), SyncSchedule: cfg.SyncSchedule,
		LastCallAttribute: cfg.LastCallAttribute, StatusAttribute: cfg.StatusAttribute,
		BillingFreezeDays: cfg.BillingFreezeDays, StateDir: cfg.StateDir, Identity: cfg.APIBase, Demo: cfg.Demo,
		TokenFingerprint: state.TokenFingerprint(cfg.AccessToken.Reveal()),
	}, daemon.Parts{Replica: replica.New(client, rset, log), Collector: col, Runner: runner, Attributes: client,
		Logger: log, Now: nowFn})
	// A state save still running would race the removal of STATE_DIR.
	t.Cleanup(exp.FlushState)
	return &harness{Exporter: exp, col: col}
}

func fixedNow() time.Time { return now }

// syncBuffer is a log buffer that the test may read while the exporter's
// background work (saving state) still logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
