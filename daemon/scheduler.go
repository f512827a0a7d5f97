package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"

	"github.com/coaching/intercom_exporter/engagement"
)

// Job names.
const (
	jobRefresh = "refresh"
	jobSync    = "sync"
)

// StopTimeout bounds how long Run waits for running jobs when it stops.
const StopTimeout = 30 * time.Second

// SaveTimeout bounds how long Run waits for the final save of the state
// when it stops (docs/shutdown-and-workspace.md).
const SaveTimeout = 30 * time.Second

// Run publishes the reports saved in STATE_DIR (see Restore), refreshes at
// once, then every REFRESH_INTERVAL and whenever RequestRefresh asks, and
// runs the sync on SYNC_SCHEDULE (in
// TIMEZONE) unless SYNC_MODE is off, until ctx is done. It returns once the
// state is saved.
// A tick that finds the previous run of its job still going is skipped and
// logged. When ctx is done, running jobs are cancelled and Run returns
// once they have stopped. A job that stops unexpectedly (a panic) or a
// scheduler that cannot start ends Run at once with an error: the process
// must then stop so that it is restarted.
func (e *Exporter) Run(ctx context.Context) error {
	// The last reports first (from STATE_DIR), before any call to Intercom.
	e.Restore()
	defer e.flushWithin(SaveTimeout)
	s, err := gocron.NewScheduler(
		gocron.WithLocation(e.set.Rules.Location),
		gocron.WithMonitor(skipLogger{e}),
		gocron.WithStopTimeout(StopTimeout),
	)
	if err != nil {
		return fmt.Errorf("starting the scheduler: %w", err)
	}
	_, err = s.NewJob(
		gocron.DurationJob(e.set.RefreshInterval),
		gocron.NewTask(e.guard(jobRefresh, func(ctx context.Context) {
			if err := e.TryRefresh(ctx); errors.Is(err, ErrRefreshBusy) {
				e.log.Warn("refresh tick skipped: a refresh is still running")
			}
		})),
		gocron.WithName(jobRefresh),
		gocron.WithStartAt(gocron.WithStartImmediately()),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithContext(ctx),
	)
	if err != nil {
		_ = s.Shutdown()
		return fmt.Errorf("scheduling the refresh every %s: %w", e.set.RefreshInterval, err)
	}
	if e.set.SyncMode != engagement.ModeOff {
		_, err = s.NewJob(
			gocron.CronJob(e.set.SyncSchedule, false),
			gocron.NewTask(e.guard(jobSync, func(ctx context.Context) {
				// Errors and results are logged and counted by Sync.
				_, _ = e.Sync(ctx, false)
			})),
			gocron.WithName(jobSync),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithContext(ctx),
		)
		if err != nil {
			_ = s.Shutdown()
			return fmt.Errorf("scheduling the sync on %q: %w", e.set.SyncSchedule, err)
		}
		e.log.Info("engagement sync scheduled", "schedule", e.set.SyncSchedule, "timezone", e.set.Rules.Location.String(), "mode", e.set.SyncMode)
	}
	s.Start()
	reqCtx, stopRequests := context.WithCancel(ctx)
	var requested sync.WaitGroup
	requested.Go(func() { e.guard("requested refresh", e.serveRequests)(reqCtx) })
	var died error
	select {
	case <-ctx.Done():
	case died = <-e.fatal:
	}
	stopRequests()
	requested.Wait()
	if err := s.Shutdown(); err != nil && died == nil {
		return fmt.Errorf("stopping the scheduler: %w", err)
	}
	return died
}

// guard runs a job's task, turning a panic (which the scheduler would
// swallow, leaving the job dead or half done) into the end of Run.
func (e *Exporter) guard(job string, task func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		defer func() {
			if r := recover(); r != nil {
				e.die(fmt.Errorf("the %s job stopped unexpectedly: panic: %v", job, r))
			}
		}()
		task(ctx)
	}
}

// die reports a background loop that stopped unexpectedly: it is logged
// at once and ends Run with err.
func (e *Exporter) die(err error) {
	e.log.Error("a background loop of the exporter stopped unexpectedly; the exporter stops so that it is restarted", "err", err)
	select {
	case e.fatal <- err:
	default: // one is enough to stop
	}
}

// RequestRefresh asks for an incremental refresh now (POST /refresh,
// SIGHUP), one that reads the contacts too. It does not wait: while a
// refresh runs, one more runs after it, and requests made before that one
// starts are all answered by it. Run serves the requests.
func (e *Exporter) RequestRefresh() {
	select {
	case e.kick <- struct{}{}:
	default: // one is pending already: it will cover this one
	}
}

// serveRequests runs the refreshes RequestRefresh asks for until ctx is
// done.
func (e *Exporter) serveRequests(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		e.refreshMu.Lock()
		// Requests made while waiting for a running refresh are answered by
		// this one, which starts after them.
		select {
		case <-e.kick:
		default:
		}
		if ctx.Err() == nil {
			e.rep.RequestSlow()
			_, _ = e.refreshLocked(ctx) // logged and counted by refreshLocked
		}
		e.refreshMu.Unlock()
	}
}

// skipLogger logs the ticks the scheduler skipped because the previous run
// of the job was still going.
type skipLogger struct{ e *Exporter }

func (l skipLogger) IncrementJob(_ uuid.UUID, name string, _ []string, status gocron.JobStatus) {
	if status == gocron.SingletonRescheduled {
		l.e.log.Warn("scheduled tick skipped: the previous run is still going", "job", name)
	}
}

func (skipLogger) RecordJobTiming(time.Time, time.Time, uuid.UUID, string, []string) {}
