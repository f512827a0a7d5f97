// Package collector reads Intercom on the exporter's own timer, publishes
// each complete read as an immutable snapshot (reports computed once per
// refresh) and serves it as Prometheus metrics; it also runs the
// engagement sync on fresh data. A scrape never calls Intercom.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/state"
)

// Options are the parts of an Exporter that are not configuration.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock the reports are computed for (tests fix it);
	// defaults to time.Now. Durations are always measured on the real
	// monotonic clock.
	Now func() time.Time
	// HTTPClient, when set, carries the Intercom calls (proxies, TLS).
	HTTPClient *http.Client
}

// FreshFor is how recent a refresh must be for a sync to use its snapshot
// instead of refreshing first.
const FreshFor = time.Minute

// Exporter reads Intercom, publishes snapshots and runs the sync. It is a
// prometheus.Collector, and the web side's Source and Syncer.
type Exporter struct {
	// live shares gathers of the live metrics among concurrent scrapes.
	live   liveGathers
	cfg    *config.Config
	ecfg   engagement.Config
	log    *slog.Logger
	now    func() time.Time
	client *intercom.Client
	runner *engagement.Runner
	m      *metrics

	snap atomic.Pointer[snapshot]

	// refreshMu makes refreshes one at a time (schedule and sync alike).
	refreshMu sync.Mutex
	// syncMu makes syncs one at a time, across schedule and endpoint.
	syncMu      sync.Mutex
	syncStarted atomic.Pointer[time.Time]

	mu     sync.Mutex // guards status
	status Status

	warnedMu sync.Mutex
	warned   map[string]bool // one-off warnings already given

	// store is the data of the last read, kept between refreshes (guarded
	// by refreshMu); nil until a read or a restore.
	store *store
	// forceFull, when not "", makes the next refresh a full read and says
	// why (guarded by refreshMu).
	forceFull string
	// convBounds is what reads showed of the conversation search's ">" and
	// "<" (see searcher.convRange).
	convBounds atomic.Int32

	// State in STATE_DIR (nil saver without it).
	saver       *saver
	restoreOnce sync.Once
	started     time.Time
	frozenMu    sync.RWMutex
	frozen      map[engagement.Month]state.Frozen
}

// New builds an Exporter for cfg, with its Intercom client. It does not
// call Intercom: Run (or Refresh) does.
func New(cfg *config.Config, o Options) (*Exporter, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ecfg := cfg.Engagement()
	if err := ecfg.Validate(); err != nil {
		return nil, err
	}
	e := &Exporter{
		cfg:     cfg,
		ecfg:    ecfg,
		log:     o.Logger,
		now:     o.Now,
		warned:  map[string]bool{},
		started: time.Now(),
		frozen:  map[engagement.Month]state.Frozen{},
	}
	if cfg.StateDir != "" {
		e.saver = newSaver(cfg.StateDir, e.identity(), o.Logger)
	}
	e.m = newMetrics(cfg)
	opts := []intercom.Option{
		intercom.WithObserver(e.m),
		intercom.WithLogger(o.Logger),
		intercom.WithRequestTimeout(cfg.RequestTimeout),
		intercom.WithRetry(cfg.RetryMaxAttempts, cfg.RetryBackoff, cfg.RetryMaxBackoff),
	}
	if o.HTTPClient != nil {
		opts = append(opts, intercom.WithHTTPClient(o.HTTPClient))
	}
	client, err := intercom.New(cfg.APIBase, cfg.AccessToken.Reveal(), cfg.Version, opts...)
	if err != nil {
		return nil, err
	}
	e.client = client
	// The sync uses at most half of the rate limit, so that the refresh is
	// never starved (docs/sync.md).
	w := &contactWriter{c: client.Share(0.5), lastCall: cfg.LastCallAttribute, status: cfg.StatusAttribute}
	e.runner = engagement.NewRunner(w, engagement.RunnerOptions{
		Concurrency: cfg.SyncConcurrency,
		MaxWrites:   cfg.SyncMaxWrites,
		Now:         o.Now,
	})
	e.status = Status{Interval: cfg.RefreshInterval, SyncMode: cfg.SyncMode, AdminsKnown: true}
	return e, nil
}

// Client is the Intercom client the exporter reads through.
func (e *Exporter) Client() *intercom.Client { return e.client }

// Runner is the engagement sync runner (for saving and restoring its
// overlay of written values).
func (e *Exporter) Runner() *engagement.Runner { return e.runner }

// Model is the published model, nil before the first successful refresh.
func (e *Exporter) Model() *engagement.Model {
	if s := e.snap.Load(); s != nil {
		return s.model
	}
	return nil
}

// Status is a copy of the refresh and sync status.
func (e *Exporter) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	if snap := e.snap.Load(); snap != nil {
		s.Ready = true
		s.DataTimestamp = snap.model.Now
		s.InvalidValues = maps.Clone(snap.invalid)
		s.BillingMonth = snap.reports.BillingMonth.String()
		s.BillingExceptions, s.NoChannel = snap.exceptions, snap.noChannel
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

// Refresh reads Intercom once and, if the read is complete, publishes it.
// It waits for a refresh already running to finish first.
func (e *Exporter) Refresh(ctx context.Context) error {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	_, err := e.refreshLocked(ctx)
	return err
}

// TryRefresh is Refresh, unless a refresh is already running: then it
// returns ErrRefreshBusy at once.
func (e *Exporter) TryRefresh(ctx context.Context) error {
	if !e.refreshMu.TryLock() {
		return ErrRefreshBusy
	}
	defer e.refreshMu.Unlock()
	_, err := e.refreshLocked(ctx)
	return err
}

// fresh returns a snapshot whose refresh ended within maxAge, refreshing
// first when there is none.
func (e *Exporter) fresh(ctx context.Context, maxAge time.Duration) (*snapshot, error) {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	if s := e.snap.Load(); s != nil && e.now().Sub(s.refreshEnd) <= maxAge && e.Status().Up {
		return s, nil
	}
	return e.refreshLocked(ctx)
}

// refreshLocked does one refresh; the caller holds refreshMu.
func (e *Exporter) refreshLocked(ctx context.Context) (*snapshot, error) {
	now := e.now()
	started := time.Now()
	e.mu.Lock()
	e.status.Refreshing = true
	e.status.LastAttempt = now
	e.mu.Unlock()
	e.m.refreshStarted()

	ctx, cancel := context.WithTimeout(ctx, e.cfg.EffectiveRefreshTimeout())
	defer cancel()
	r, err := e.read(ctx, now)
	if err != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		err = fmt.Errorf("the refresh did not finish within REFRESH_TIMEOUT (%s): %w", e.cfg.EffectiveRefreshTimeout(), err)
	}
	var snap *snapshot
	var reportsTime time.Duration
	if err == nil {
		t0 := time.Now()
		st := r.store
		st.now = now
		model := engagement.Build(st.data(), e.ecfg, now)
		e.store = st
		e.freeze(model)
		snap = e.buildSnapshot(model, st.invalid(e.timeAttributes()))
		snap.noChannel = noChannelInBillingWindow(model, st)
		if r.full {
			e.forceFull = ""
		}
		reportsTime = time.Since(t0)
	}
	took := time.Since(started)
	end := e.now()

	e.mu.Lock()
	e.status.Refreshing = false
	e.status.LastDuration = took
	if r != nil && r.workspaceTimezone != "" {
		e.status.WorkspaceTimezone = r.workspaceTimezone
	}
	if err != nil {
		e.status.Up = false
		e.status.LastError = err.Error()
	} else {
		snap.refreshEnd = end
		e.snap.Store(snap)
		e.status.Up = true
		e.status.LastError = ""
		e.status.LastSuccess = end
		e.status.AdminsKnown = r.store.adminsKnown
	}
	e.mu.Unlock()
	e.m.refreshFinished(err == nil, end, took)

	if err != nil {
		msg := "refresh of Intercom data failed; the previous reports stay published"
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			msg = "refresh of Intercom data stopped; the previous reports stay published"
		}
		e.log.Error(msg, "err", err, "duration", took.Round(time.Millisecond),
			"published_data_timestamp", e.Status().DataTimestamp)
		return nil, err
	}
	r.store.refreshEnd = end
	e.saveData(r.store)
	kind := "incremental"
	if r.full {
		kind = "full"
	}
	attrs := []any{
		"kind", kind,
		"duration", took.Round(time.Millisecond),
		"search_requests", r.requests,
		"searches", r.searchTime.Round(time.Millisecond),
		"by_id", r.byIDTime.Round(time.Millisecond),
		"reports", reportsTime.Round(time.Millisecond),
		"conversations_read", r.conversationsRead,
		"contacts_read", r.contactsRead,
		"sessions", len(snap.model.Sessions),
		"contacts", len(r.store.contacts),
		"admins_known", r.store.adminsKnown,
		"data_timestamp", now.Format(time.RFC3339),
	}
	if r.full {
		attrs = append(attrs, "reason", r.reason)
	}
	if !r.full {
		attrs = append(attrs, "counts_compared", r.reconcileTime.Round(time.Millisecond))
	}
	if r.removed > 0 {
		attrs = append(attrs, "deleted_records_removed", r.removed)
	}
	e.log.Info("refresh of Intercom data done", attrs...)
	return snap, nil
}

// Sync runs the engagement sync now, on fresh data, in the configured mode
// (dry-run only when dryRun is set or the mode is dry-run). It returns
// engagement.ErrOff in mode off and an *engagement.BusyError while a run is
// going on. A sync blocked by missing attributes returns a summary with
// Result "blocked" and a nil error.
func (e *Exporter) Sync(ctx context.Context, dryRun bool) (engagement.Summary, error) {
	mode := e.cfg.Mode()
	if mode == engagement.ModeOff {
		return engagement.Summary{Mode: mode}, engagement.ErrOff
	}
	if dryRun {
		mode = engagement.ModeDryRun
	}
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
	e.m.syncFinished(s, end)
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
	snap, err := e.fresh(ctx, FreshFor)
	if err != nil {
		return failed, intercomError{fmt.Errorf("sync not run: reading Intercom first failed: %w", err)}
	}
	failed.DataTimestamp = snap.model.Now
	attrs, err := e.client.ListDataAttributes(ctx, "contact")
	if err != nil {
		return failed, intercomError{fmt.Errorf("sync not run: checking the contact attributes failed: %w", err)}
	}
	infos := make([]engagement.AttributeInfo, 0, len(attrs))
	for _, a := range attrs {
		infos = append(infos, engagement.AttributeInfo{Name: a.Name, DataType: a.DataType, APIWritable: a.APIWritable, Archived: a.Archived})
	}
	if err := engagement.CheckAttributes(infos, e.cfg.LastCallAttribute, e.cfg.StatusAttribute); err != nil {
		changes, unchanged := snap.model.Plan(e.runner.Written())
		return engagement.Summary{
			Mode: mode, Result: engagement.ResultBlocked, Started: started,
			DataTimestamp: snap.model.Now, Blocked: err.Error(),
			Planned: len(changes), Unchanged: unchanged, Left: len(changes),
		}, nil
	}
	return e.runner.Run(ctx, snap.model, mode)
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

// warnOnce logs a warning the first time key is seen, then at debug level.
func (e *Exporter) warnOnce(key, msg string, args ...any) {
	e.warnedMu.Lock()
	seen := e.warned[key]
	e.warned[key] = true
	e.warnedMu.Unlock()
	if seen {
		e.log.Debug(msg, args...)
		return
	}
	e.log.Warn(msg, args...)
}
