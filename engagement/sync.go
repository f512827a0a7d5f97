package engagement

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Writer applies one contact's two attributes in ONE request (so no contact
// is ever half written) and returns the contact's new updated_at. It does
// its own retries; an error it returns is final for this run.
type Writer interface {
	WriteEngagement(ctx context.Context, contactID string, lastCall int64, status string) (updatedAt int64, err error)
}

// Mode is the sync mode of docs/sync.md (SYNC_MODE).
type Mode string

// Sync modes.
const (
	ModeOff    Mode = "off"
	ModeDryRun Mode = "dry-run"
	ModeApply  Mode = "apply"
)

// Results of a sync run: the result label of intercom_sync_runs_total.
const (
	// ResultSuccess: every planned write allowed this run was made (some
	// may be left for the next run by SYNC_MAX_WRITES).
	ResultSuccess = "success"
	// ResultPartial: some contacts written, some failed or not attempted
	// because the run was cancelled.
	ResultPartial = "partial"
	// ResultFailed: nothing written, and writes failed or the run was
	// cancelled.
	ResultFailed = "failed"
	// ResultBlocked: the attributes are missing or unusable (see
	// CheckAttributes); the caller reports it, the runner never returns it.
	ResultBlocked = "blocked"
)

// Defaults of RunnerOptions.
const (
	DefaultConcurrency = 4
	DefaultMaxWrites   = 5000
)

// ErrBusy is matched (errors.Is) by the *BusyError that Run returns while
// another run is going on.
var ErrBusy = errors.New("a sync run is already going on")

// ErrOff is returned by Run in mode off: nothing is planned or written.
var ErrOff = errors.New("the engagement sync is off (SYNC_MODE=off)")

// BusyError says that a run is going on, and since when.
type BusyError struct {
	Started time.Time
}

func (e *BusyError) Error() string {
	if e.Started.IsZero() {
		return ErrBusy.Error() + "; try again when it has finished"
	}
	return fmt.Sprintf("a sync run started at %s is still going on; try again when it has finished",
		e.Started.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Failure is a contact whose write failed for good in a run.
type Failure struct {
	ContactID string `json:"contact_id"`
	Error     string `json:"error"`
}

// Summary is what one run did. Written + Failed + Left == Planned in apply
// mode; a dry run writes nothing and leaves nothing (Written = Failed =
// Left = 0).
type Summary struct {
	Mode          Mode      `json:"mode"`
	Result        string    `json:"result"` // success|partial|failed|blocked
	Started       time.Time `json:"started"`
	Duration      float64   `json:"duration_seconds"`
	DataTimestamp time.Time `json:"data_timestamp"`
	Planned       int       `json:"planned"`
	Written       int       `json:"written"`
	Unchanged     int       `json:"unchanged"`
	Failed        int       `json:"failed"`
	Left          int       `json:"left_for_next_run"`
	Blocked       string    `json:"blocked,omitempty"`
	// Notes say in words why contacts were left for the next run
	// (SYNC_MAX_WRITES, cancellation).
	Notes []string `json:"notes,omitempty"`
	// Changes are every planned change, in contact id order, in both
	// modes (never null, so a reader sees an empty plan as []).
	Changes []Change `json:"changes"`
	// WrittenContacts are the ids of the contacts written, in id order.
	WrittenContacts []string  `json:"written_contacts,omitempty"`
	Failures        []Failure `json:"failures,omitempty"`
	// WrittenByStatus counts the contacts written by their new status.
	WrittenByStatus map[string]int `json:"written_by_status,omitempty"`
}

// RunnerOptions configure a Runner. Zero values take the defaults.
type RunnerOptions struct {
	// Concurrency bounds the writes in flight [4].
	Concurrency int
	// MaxWrites bounds the contacts written by one run [SYNC_MAX_WRITES=5000].
	MaxWrites int
	// Now times the runs (Summary.Started, Duration). The package reads no
	// clock itself: when nil, runs are not timed (zero Started, Duration 0).
	Now func() time.Time
}

// Runner runs the engagement sync, one run at a time. It keeps the Written
// overlay: what its runs wrote, per contact, which stands for the stored
// values until a read of the contact with a newer updated_at replaces it.
type Runner struct {
	w           Writer
	concurrency int
	maxWrites   int
	now         func() time.Time

	mu      sync.Mutex // guards everything below
	running bool
	started time.Time
	written map[string]Written
}

// NewRunner returns a runner that writes through w (w may be nil when only
// dry runs are made).
func NewRunner(w Writer, o RunnerOptions) *Runner {
	r := &Runner{w: w, concurrency: o.Concurrency, maxWrites: o.MaxWrites, now: o.Now, written: map[string]Written{}}
	if r.concurrency <= 0 {
		r.concurrency = DefaultConcurrency
	}
	if r.maxWrites <= 0 {
		r.maxWrites = DefaultMaxWrites
	}
	if r.now == nil {
		r.now = func() time.Time { return time.Time{} }
	}
	return r
}

// Written returns a copy of the overlay, for saving state.
func (r *Runner) Written() map[string]Written {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.written)
}

// RestoreWritten replaces the overlay (after a restart) with a copy of w.
func (r *Runner) RestoreWritten(w map[string]Written) {
	c := maps.Clone(w)
	if c == nil {
		c = map[string]Written{}
	}
	r.mu.Lock()
	r.written = c
	r.mu.Unlock()
}

// Run plans the sync for m and, in apply mode, writes the changes: at most
// MaxWrites contacts, at most Concurrency at a time, each in one request.
// A write that fails is reported in the summary and not recorded, so the
// next run tries it again. When ctx is cancelled no new write starts; the
// writes in flight finish or fail, and the rest are left for the next run.
//
// The error is non-nil only when no run took place: *BusyError (ErrBusy)
// while another run is going on, ErrOff in mode off, or a bad argument.
// What happened in a run is in the Summary.
func (r *Runner) Run(ctx context.Context, m *Model, mode Mode) (Summary, error) {
	switch mode {
	case ModeDryRun, ModeApply:
	case ModeOff:
		return Summary{Mode: mode}, ErrOff
	default:
		return Summary{Mode: mode}, fmt.Errorf("unknown sync mode %q (want off, dry-run or apply)", mode)
	}
	if m == nil {
		return Summary{Mode: mode}, errors.New("sync run without data: no model given")
	}
	if mode == ModeApply && r.w == nil {
		return Summary{Mode: mode}, errors.New("sync run in apply mode without a writer")
	}

	started := r.now()
	r.mu.Lock()
	if r.running {
		busy := &BusyError{Started: r.started}
		r.mu.Unlock()
		return Summary{Mode: mode}, busy
	}
	r.running, r.started = true, started
	r.pruneLocked(m)
	overlay := maps.Clone(r.written)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	changes, unchanged := m.Plan(overlay)
	if changes == nil {
		changes = []Change{}
	}
	s := Summary{
		Mode:          mode,
		Started:       started,
		DataTimestamp: m.Now,
		Planned:       len(changes),
		Unchanged:     unchanged,
		Changes:       changes,
	}
	if mode == ModeDryRun {
		s.Result = ResultSuccess
	} else {
		r.apply(ctx, m, changes, &s)
	}
	s.Duration = r.now().Sub(started).Seconds()
	return s, nil
}

// pruneLocked drops the overlay entries that a newer read of the contact
// has replaced (Plan would ignore them anyway), so the overlay stays small.
func (r *Runner) pruneLocked(m *Model) {
	for id, w := range r.written {
		if mem, ok := m.Member(id); ok && mem.Contact.UpdatedAt > w.UpdatedAt {
			delete(r.written, id)
		}
	}
}

// apply writes changes (the first MaxWrites of them) and fills s.
func (r *Runner) apply(ctx context.Context, m *Model, changes []Change, s *Summary) {
	batch := changes
	if len(batch) > r.maxWrites {
		batch = batch[:r.maxWrites]
	}
	type outcome struct {
		attempted bool
		err       error
	}
	out := make([]outcome, len(batch))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(r.concurrency, len(batch)) {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					continue // handed out as the run was stopped: not started
				}
				c := batch[i]
				updatedAt, err := r.w.WriteEngagement(ctx, c.ContactID, c.LastCall, c.Status)
				out[i] = outcome{attempted: true, err: err}
				if err == nil {
					r.record(m, c, updatedAt)
				}
			}
		})
	}
feed:
	for i := range batch {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	s.WrittenByStatus = map[string]int{}
	notStarted, interrupted := 0, 0
	for i, o := range out {
		switch {
		case !o.attempted:
			notStarted++
		case o.err != nil && ctx.Err() != nil && errors.Is(o.err, ctx.Err()):
			// Cut short by the stop, not refused by Intercom: not a failure
			// (no alert), left for the next run, which writes the same values.
			interrupted++
		case o.err != nil:
			s.Failed++
			s.Failures = append(s.Failures, Failure{ContactID: batch[i].ContactID, Error: o.err.Error()})
		default:
			s.Written++
			s.WrittenContacts = append(s.WrittenContacts, batch[i].ContactID)
			s.WrittenByStatus[batch[i].Status]++
		}
	}
	s.Left = s.Planned - s.Written - s.Failed
	if over := len(changes) - len(batch); over > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf(
			"%d planned changes exceed the limit of %d writes per run (SYNC_MAX_WRITES); %d are left for the next run",
			len(changes), r.maxWrites, over))
	}
	if notStarted+interrupted > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf(
			"the run was stopped (%v) after starting %d of %d writes (%d of them cut short); the %d not written are left for the next run",
			context.Cause(ctx), len(batch)-notStarted, len(batch), interrupted, notStarted+interrupted))
	}
	switch {
	case s.Failed == 0 && notStarted == 0 && interrupted == 0:
		s.Result = ResultSuccess
	case s.Written > 0:
		s.Result = ResultPartial
	default:
		s.Result = ResultFailed
	}
}

// record adds a successful write to the overlay. The write came after the
// read the plan was made from, so it stands at least until a read newer
// than that one, even if the writer could not tell the new updated_at.
func (r *Runner) record(m *Model, c Change, updatedAt int64) {
	if mem, ok := m.Member(c.ContactID); ok && mem.Contact.UpdatedAt > updatedAt {
		updatedAt = mem.Contact.UpdatedAt
	}
	r.mu.Lock()
	r.written[c.ContactID] = Written{LastCall: c.LastCall, Status: c.Status, UpdatedAt: updatedAt}
	r.mu.Unlock()
}
