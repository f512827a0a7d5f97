// Package daemon runs the exporter's work on its own timer: one refresh at
// a time (the replica reads what changed, the rules compute, the collector
// swaps the published reports in, the frozen billing months are kept and
// the state is saved), and the engagement sync on fresh data. It is the
// web side's Source and Syncer. main builds the parts (the Intercom
// client, the replica, the collector, the sync runner) and hands them in,
// so that each of those stays one concern and this package is the only
// one that knows the order of a refresh.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/replica"
	"github.com/coaching/intercom_exporter/state"
)

// Settings are the daemon's own settings (docs/configuration.md).
type Settings struct {
	// Rules are the rules' settings (timezone, lookback, channels, bands).
	Rules engagement.Config
	// RefreshInterval is the time between refreshes, RefreshTimeout how
	// long an incremental one may take and FullRefreshTimeout how long a
	// full read may take (docs/freshness.md).
	RefreshInterval, RefreshTimeout, FullRefreshTimeout time.Duration
	// SyncMode and SyncSchedule (cron, in the rules' timezone) say when
	// and how the sync runs.
	SyncMode     engagement.Mode
	SyncSchedule string
	// The attributes the sync writes (checked before a run).
	LastCallAttribute, StatusAttribute string
	// BillingFreezeDays is how long after its end a month's billing cohort
	// is frozen.
	BillingFreezeDays int
	// StateDir is where state is saved ("" for none). Saved state belongs
	// to the workspace GET /me names; Identity (the API base) matches only
	// a file that names no workspace yet (migrated from version 1).
	StateDir, Identity string
	// TokenFingerprint identifies the access token in saved state without
	// holding it (state.TokenFingerprint).
	TokenFingerprint string
	// APIHost is the host of the API base, which names the workspace's
	// region for links to Intercom (only the host: a proxy's base URL may
	// carry credentials).
	APIHost string
	// Demo: the workspace is generated afresh at every start, so saved
	// state is never reused.
	Demo bool
}

// Parts are what the daemon drives, built by main.
type Parts struct {
	Replica   *replica.Replica
	Collector *collector.Collector
	// Runner writes the sync's changes.
	Runner *engagement.Runner
	// Attributes lists the contact data attributes, to check before a sync
	// that the two it writes exist and are writable.
	Attributes AttributeLister
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock the reports are computed for (tests fix it);
	// defaults to time.Now. Durations are always measured on the real
	// monotonic clock.
	Now func() time.Time
}

// AttributeLister lists a model's data attributes (the Intercom client).
type AttributeLister interface {
	ListDataAttributes(ctx context.Context, model string) ([]intercom.DataAttribute, error)
}

// FreshFor is how recent a refresh must be for a sync to use its reports
// instead of refreshing first.
const FreshFor = time.Minute

// Exporter drives refreshes and syncs. It is the web side's Source and
// Syncer.
type Exporter struct {
	set    Settings
	log    *slog.Logger
	now    func() time.Time
	rep    *replica.Replica
	col    *collector.Collector
	runner *engagement.Runner
	attrs  AttributeLister

	// refreshMu makes refreshes one at a time (schedule and sync alike).
	refreshMu sync.Mutex
	// pubEnd is when the refresh whose reports are published ended, and
	// slowEnd when the last slow or full one did (guarded by refreshMu).
	pubEnd, slowEnd time.Time
	// kick asks Run for an incremental refresh now (RequestRefresh); it
	// holds at most one request.
	kick chan struct{}
	// syncMu makes syncs one at a time, across schedule and endpoint.
	syncMu      sync.Mutex
	syncStarted atomic.Pointer[time.Time]

	mu     sync.Mutex // guards status
	status collector.Status

	// State in STATE_DIR (nil saver without it).
	saver       *saver
	restoreOnce sync.Once
	frozenMu    sync.RWMutex
	frozen      map[engagement.Month]state.Frozen
	// frozenHeld stops freezing from live data while frozen months may be
	// in a state file set aside or not readable (guarded by frozenMu).
	frozenHeld bool
	// leftInPlace: a state file that cannot be used could not be moved
	// aside (guarded by frozenMu).
	leftInPlace bool
	// The workspace the saved state belongs to, until GET /me has
	// confirmed it (guarded by refreshMu): expectWorkspace is the app id
	// of the state restored and served (same token), pending the state
	// held back, nothing of it served (another token).
	expectWorkspace string
	pending         *state.File

	// fatal receives the error of a background loop that stopped
	// unexpectedly; Run returns it.
	fatal chan error
	// stopping is cancelled by StopSyncs: it cancels every running sync.
	stopping     context.Context
	stopSyncsNow context.CancelCauseFunc
}

// New is an Exporter driving p. It does not call Intercom: Run (or
// Refresh) does.
func New(set Settings, p Parts) *Exporter {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if set.Demo {
		set.Identity = demoIdentity + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	e := &Exporter{
		set:    set,
		log:    p.Logger,
		now:    p.Now,
		rep:    p.Replica,
		col:    p.Collector,
		runner: p.Runner,
		attrs:  p.Attributes,
		frozen: map[engagement.Month]state.Frozen{},
		fatal:  make(chan error, 1),
		kick:   make(chan struct{}, 1),
	}
	e.stopping, e.stopSyncsNow = context.WithCancelCause(context.Background())
	if set.StateDir != "" {
		e.saver = newSaver(set.StateDir, set.Identity, p.Logger)
		e.saver.failed = e.col.StateSaveFailed
		e.saver.died = e.die
	}
	e.status = collector.Status{Interval: set.RefreshInterval, SyncMode: string(set.SyncMode), AdminsKnown: true, APIHost: set.APIHost}
	return e
}

// NewContactWriter is the sync's writer through c: it writes the two
// engagement attributes of a contact in one PUT /contacts/{id}.
func NewContactWriter(c *intercom.Client, lastCallAttribute, statusAttribute string) engagement.Writer {
	return &contactWriter{c: c, lastCall: lastCallAttribute, status: statusAttribute}
}

// Runner is the engagement sync runner.
func (e *Exporter) Runner() *engagement.Runner { return e.runner }

// MergedEmployers names, by metric family, the employers the series budget
// merged into employer="(other)" for the published model m (web's
// MergedEmployers).
func (e *Exporter) MergedEmployers(m *engagement.Model) map[string][]string {
	return e.col.MergedEmployers(m)
}

// Model is the published model, nil before the first successful refresh.
func (e *Exporter) Model() *engagement.Model { return e.col.Model() }

// Status is a copy of the refresh and sync status.
func (e *Exporter) Status() collector.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	if m := e.col.Model(); m != nil {
		s.Ready = true
		s.DataTimestamp = e.col.DataTimestamp()
	}
	return s
}

// ErrRefreshBusy is returned by TryRefresh while another refresh runs.
var ErrRefreshBusy = errors.New("a refresh is already running")

// ErrIntercom is wrapped by the error of a sync that did not run because
// reading Intercom first failed (the refresh before it, or the attribute
// check): an upstream failure, not an internal one.
var ErrIntercom = errors.New("reading Intercom failed")

// intercomError marks an error as ErrIntercom, keeping its message.
type intercomError struct{ error }

func (e intercomError) Unwrap() []error { return []error{e.error, ErrIntercom} }

// Refresh reads Intercom once, everything that changed (contacts too, or
// everything when a full read is due), and, if the read is complete,
// publishes it. It waits for a refresh already running to finish first.
func (e *Exporter) Refresh(ctx context.Context) error {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	e.rep.RequestSlow()
	_, err := e.refreshLocked(ctx)
	return err
}

// TryRefresh is the scheduled refresh: what its cadence calls for
// (conversations, every SLOW_REFRESH_INTERVAL contacts too, every
// FULL_REFRESH_INTERVAL everything), unless a refresh is already running:
// then it returns ErrRefreshBusy at once.
func (e *Exporter) TryRefresh(ctx context.Context) error {
	if !e.refreshMu.TryLock() {
		return ErrRefreshBusy
	}
	defer e.refreshMu.Unlock()
	_, err := e.refreshLocked(ctx)
	return err
}

// fresh returns the published model when its refresh ended within maxAge,
// and the contacts were read within maxAge too (the sync's plan compares
// with their stored values); otherwise it refreshes first, reading the
// contacts.
func (e *Exporter) fresh(ctx context.Context, maxAge time.Duration) (*engagement.Model, error) {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	if m := e.col.Model(); m != nil && e.now().Sub(e.pubEnd) <= maxAge && e.now().Sub(e.slowEnd) <= maxAge && e.Status().Up {
		return m, nil
	}
	e.rep.RequestSlow()
	return e.refreshLocked(ctx)
}

// DefaultRefreshTimeout and DefaultFullRefreshTimeout bound a refresh
// when the settings leave them 0 (docs/freshness.md).
const (
	DefaultRefreshTimeout     = 5 * time.Minute
	DefaultFullRefreshTimeout = 2 * time.Hour
)

// timeoutFor is how long a refresh of this kind may take, and the setting
// that says so.
func (e *Exporter) timeoutFor(k replica.Kind) (time.Duration, string) {
	if k == replica.Full {
		return cmp.Or(e.set.FullRefreshTimeout, DefaultFullRefreshTimeout), "FULL_REFRESH_TIMEOUT"
	}
	return cmp.Or(e.set.RefreshTimeout, DefaultRefreshTimeout), "REFRESH_TIMEOUT"
}

// read runs the replica's refresh under the time bound of its kind. An
// incremental read that finds a full one needed is followed at once by the
// full read, under its own bound.
func (e *Exporter) read(ctx context.Context, now time.Time) (engagement.Data, replica.Stats, error) {
	for try := 0; ; try++ {
		limit, name := e.timeoutFor(e.rep.Next(now))
		rctx, cancel := context.WithTimeout(ctx, limit)
		data, st, err := e.rep.Refresh(rctx, now)
		if err != nil && errors.Is(context.Cause(rctx), context.DeadlineExceeded) {
			err = fmt.Errorf("the refresh did not finish within %s (%s): %w", name, limit, err)
		}
		cancel()
		if try == 0 && errors.Is(err, replica.ErrFullReadNeeded) {
			e.log.Info("reading Intercom in full", "reason", err.Error())
			continue
		}
		return data, st, err
	}
}

// refreshLocked does one refresh; the caller holds refreshMu. A read that
// found nothing changed, on the same day as the published reports,
// recomputes nothing: the reports stay, and only the data timestamp
// advances to the start of the read.
func (e *Exporter) refreshLocked(ctx context.Context) (*engagement.Model, error) {
	now := e.now()
	started := time.Now()
	e.mu.Lock()
	e.status.Refreshing = true
	e.status.LastAttempt = now
	e.mu.Unlock()
	e.col.RefreshStarted()

	data, st, err := e.read(ctx, now)
	if st.WorkspaceID != "" && st.Kind != replica.Quick {
		// GET /me answered (a quick read does not ask it): the saved state
		// is that workspace's or is set aside, before anything is frozen
		// or published.
		e.confirmWorkspace(st.WorkspaceID)
	}
	var model *engagement.Model
	var reportsTime time.Duration
	recomputed := false
	if err == nil {
		model = e.col.Model()
		if model == nil || st.Changed || engagement.DayOf(now, e.set.Rules.Location) != model.Today {
			t0 := time.Now()
			model = engagement.Build(data, e.set.Rules, now)
			e.freeze(model)
			e.publish(model, st)
			reportsTime = time.Since(t0)
			recomputed = true
		} else {
			e.col.DataCurrent(now)
		}
	}
	took := time.Since(started)
	end := e.now()

	e.mu.Lock()
	e.status.Refreshing = false
	e.status.LastDuration = took
	if st.WorkspaceTimezone != "" {
		e.status.WorkspaceTimezone = st.WorkspaceTimezone
	}
	if st.WorkspaceID != "" {
		e.status.WorkspaceID = st.WorkspaceID
	}
	if err != nil {
		e.status.Up = false
		e.status.LastError = err.Error()
	} else {
		e.pubEnd = end
		if st.Kind != replica.Quick {
			e.slowEnd = end
		}
		e.status.Up = true
		e.status.LastError = ""
		e.status.LastSuccess = end
		e.status.AdminsKnown = st.AdminsKnown
	}
	e.mu.Unlock()
	e.col.RefreshFinished(err == nil, end, took)

	if err != nil {
		msg := "refresh of Intercom data failed; the previous reports stay published"
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			msg = "refresh of Intercom data stopped; the previous reports stay published"
		}
		e.log.Error(msg, "err", err, "duration", took.Round(time.Millisecond),
			"published_data_timestamp", e.Status().DataTimestamp)
		return nil, err
	}
	if recomputed {
		// Unchanged data needs no new save: the saved copy differs only in
		// its watermark, and a restart reads again from the older one.
		e.saveData(end)
	}
	attrs := []any{
		"kind", st.Kind.String(),
		"changed", st.Changed,
		"recomputed", recomputed,
		"duration", took.Round(time.Millisecond),
		"search_requests", st.Requests,
		"searches", st.SearchTime.Round(time.Millisecond),
		"by_id", st.ByIDTime.Round(time.Millisecond),
		"reports", reportsTime.Round(time.Millisecond),
		"conversations_read", st.ConversationsRead,
		"contacts_read", st.ContactsRead,
		"sessions", len(model.Sessions),
		"contacts", st.Contacts,
		"admins_known", st.AdminsKnown,
		"data_timestamp", now.Format(time.RFC3339),
	}
	if st.Full {
		attrs = append(attrs, "reason", st.Reason)
	}
	if st.Kind == replica.Slow {
		attrs = append(attrs, "counts_compared", st.ReconcileTime.Round(time.Millisecond))
	}
	if st.Removed > 0 {
		attrs = append(attrs, "deleted_records_removed", st.Removed)
	}
	if st.Kind == replica.Quick && !recomputed {
		// Every minute on a quiet day: not worth a line at info level.
		e.log.Debug("refresh of Intercom data done", attrs...)
	} else {
		e.log.Info("refresh of Intercom data done", attrs...)
	}
	return model, nil
}

// publish computes the reports of a model and hands them to the
// collector. The billing family of a frozen month is the frozen cohort
// (docs/reports.md).
func (e *Exporter) publish(model *engagement.Model, st replica.Stats) {
	rep := model.Reports()
	if recs, _, ok := e.FrozenBilling(rep.BillingMonth); ok {
		rep.Billing = engagement.BillingCounts(recs)
	}
	if xs, _, ok := e.FrozenBillingExceptions(rep.BillingMonth); ok {
		rep.Exceptions = engagement.ExceptionCounts(xs)
	}
	e.col.Publish(model, rep, st.Invalid)
	exceptions := 0
	for _, v := range rep.Exceptions {
		exceptions += v[0] + v[1] + v[2]
	}
	e.mu.Lock()
	e.status.InvalidValues = st.Invalid
	e.status.BillingMonth = rep.BillingMonth.String()
	e.status.BillingExceptions, e.status.NoChannel = exceptions, st.NoChannel
	e.mu.Unlock()
}

// ErrStopping is returned by a sync asked for once the exporter is
// stopping (StopSyncs).
var ErrStopping = errors.New("the exporter is stopping: no sync is started")

// errStopped is the cause given to a running sync cancelled by StopSyncs
// (its summary's note says it).
var errStopped = errors.New("the exporter is stopping (SIGTERM)")

// StopSyncs cancels every running sync, however it was started (schedule,
// POST /sync, demo), and refuses new ones: the first step of a graceful
// stop. A cancelled run ends with a partial summary, which is logged,
// counted and returned to its caller; what it wrote is saved.
func (e *Exporter) StopSyncs() { e.stopSyncsNow(errStopped) }

// Sync runs the engagement sync now, on fresh data, in the configured mode
// (dry-run only when dryRun is set or the mode is dry-run). It returns
// engagement.ErrOff in mode off, an *engagement.BusyError while a run is
// going on and ErrStopping once StopSyncs was called. A sync blocked by
// missing attributes returns a summary with Result "blocked" and a nil
// error. It stops when ctx is done or StopSyncs is called.
func (e *Exporter) Sync(ctx context.Context, dryRun bool) (engagement.Summary, error) {
	mode := e.set.SyncMode
	if mode == engagement.ModeOff {
		return engagement.Summary{Mode: mode}, engagement.ErrOff
	}
	if dryRun {
		mode = engagement.ModeDryRun
	}
	if e.stopping.Err() != nil {
		return engagement.Summary{Mode: mode}, ErrStopping
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(e.stopping, func() { cancel(context.Cause(e.stopping)) })()
	if !e.syncMu.TryLock() {
		busy := &engagement.BusyError{}
		if t := e.syncStarted.Load(); t != nil {
			busy.Started = *t
		}
		return engagement.Summary{Mode: mode}, busy
	}
	defer e.syncMu.Unlock()
	started := e.now()
	e.syncStarted.Store(&started)
	t0 := time.Now()

	s, err := e.sync(ctx, mode, started)
	s.Duration = time.Since(t0).Seconds()
	if s.Written > 0 {
		e.saveWritten()
	}
	var busy *engagement.BusyError
	if errors.As(err, &busy) {
		return s, err
	}
	end := e.now()
	e.col.SyncFinished(s, end)
	e.mu.Lock()
	e.status.LastSyncEnd = end
	e.status.LastSyncResult = s.Result
	if s.Result == engagement.ResultSuccess {
		e.status.LastSyncSuccess = end
	}
	e.mu.Unlock()
	e.logSummary(s, err)
	return s, err
}

func (e *Exporter) sync(ctx context.Context, mode engagement.Mode, started time.Time) (engagement.Summary, error) {
	failed := engagement.Summary{Mode: mode, Result: engagement.ResultFailed, Started: started}
	model, err := e.fresh(ctx, FreshFor)
	if err != nil {
		return failed, intercomError{fmt.Errorf("sync not run: reading Intercom first failed: %w", err)}
	}
	failed.DataTimestamp = model.Now
	attrs, err := e.attrs.ListDataAttributes(ctx, "contact")
	if err != nil {
		return failed, intercomError{fmt.Errorf("sync not run: checking the contact attributes failed: %w", err)}
	}
	infos := make([]engagement.AttributeInfo, 0, len(attrs))
	for _, a := range attrs {
		infos = append(infos, engagement.AttributeInfo{Name: a.Name, DataType: a.DataType, APIWritable: a.APIWritable, Archived: a.Archived})
	}
	if err := engagement.CheckAttributes(infos, e.set.LastCallAttribute, e.set.StatusAttribute); err != nil {
		changes, unchanged := model.Plan(e.runner.Written())
		return engagement.Summary{
			Mode: mode, Result: engagement.ResultBlocked, Started: started,
			DataTimestamp: model.Now, Blocked: err.Error(),
			Planned: len(changes), Unchanged: unchanged, Left: len(changes),
		}, nil
	}
	return e.runner.Run(ctx, model, mode)
}

func (e *Exporter) logSummary(s engagement.Summary, err error) {
	attrs := []any{
		"mode", s.Mode, "result", s.Result, "planned", s.Planned, "written", s.Written,
		"unchanged", s.Unchanged, "failed", s.Failed, "left_for_next_run", s.Left,
		"duration", time.Duration(s.Duration * float64(time.Second)).Round(time.Millisecond),
	}
	if !s.DataTimestamp.IsZero() {
		attrs = append(attrs, "data_timestamp", s.DataTimestamp.Format(time.RFC3339))
	}
	switch {
	case err != nil:
		e.log.Error("engagement sync failed", append(attrs, "err", err)...)
	case s.Result == engagement.ResultBlocked:
		e.log.Warn("engagement sync blocked: nothing written", append(attrs, "blocked", s.Blocked)...)
	case s.Result != engagement.ResultSuccess:
		e.log.Warn("engagement sync finished with failures", attrs...)
	default:
		e.log.Info("engagement sync finished", attrs...)
	}
	for _, n := range s.Notes {
		e.log.Info("engagement sync note", "note", n)
	}
	// Contact ids only, and only at debug level.
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		for _, f := range s.Failures {
			e.log.Debug("engagement sync write failed", "contact_id", f.ContactID, "err", f.Error)
		}
		for _, c := range s.Changes {
			e.log.Debug("engagement sync change", "contact_id", c.ContactID, "status", c.Status,
				"last_call", c.LastCall, "stored_status", c.StoredStatus)
		}
	}
}

// contactWriter writes the two engagement attributes of a contact in one
// PUT /contacts/{id}.
type contactWriter struct {
	c                *intercom.Client
	lastCall, status string
}

func (w *contactWriter) WriteEngagement(ctx context.Context, contactID string, lastCall int64, status string) (int64, error) {
	ct, err := w.c.UpdateContactAttributes(ctx, contactID, map[string]any{w.lastCall: lastCall, w.status: status})
	if err != nil {
		return 0, err
	}
	return ct.UpdatedAt, nil
}
