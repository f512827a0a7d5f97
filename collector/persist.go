package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/state"
)

// settings fingerprints the configuration the saved data depends on: how
// it was read and mapped. Saved data read with other settings is not used.
func (e *Exporter) settings() string {
	c := e.cfg
	return strings.Join([]string{
		"TIMEZONE=" + c.Timezone,
		"CHANNEL_ATTRIBUTE=" + c.ChannelAttribute,
		"SESSION_CHANNELS=" + strings.Join(c.SessionChannels, ","),
		"EMPLOYER_ATTRIBUTE=" + c.EmployerAttribute,
		"REGISTRATION_ATTRIBUTES=" + strings.Join(c.RegistrationAttributes, ","),
		"LAST_CALL_ATTRIBUTE=" + c.LastCallAttribute,
		"STATUS_ATTRIBUTE=" + c.StatusAttribute,
		"LOOKBACK_DAYS=" + strconv.Itoa(c.LookbackDays),
		// Saved registration days were read by this rule: date-typed
		// values at UTC midnight are UTC dates (docs/reports.md).
		"REGISTRATION_RULE=date-typed-utc-midnight",
	}, "\n")
}

// identity names the workspace the state belongs to. A demo workspace is
// generated afresh at every start, so its state is never reused.
func (e *Exporter) identity() string {
	if e.cfg.Demo {
		return "demo:" + strconv.FormatInt(e.started.UnixNano(), 10)
	}
	return e.cfg.APIBase
}

// Restore loads the state saved in STATE_DIR, once, before any call to
// Intercom: the sync's overlay of written values, the frozen billing
// months and the data of the last refresh, from which the last reports are
// published at once (ready, with intercom_up 0 until a refresh succeeds);
// the next refresh then reads only what changed. A missing, old-format or
// damaged file, or data saved with other settings, is logged and the
// first refresh reads Intercom in full. Run calls it; it does nothing
// without STATE_DIR.
func (e *Exporter) Restore() {
	if e.cfg.StateDir == "" {
		return
	}
	e.restoreOnce.Do(e.restore)
}

func (e *Exporter) restore() {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	t0 := time.Now()
	dir := e.cfg.StateDir
	f, err := state.Load(dir)
	switch {
	case errors.Is(err, state.ErrNoState):
		e.log.Info("no saved state yet: the first refresh reads Intercom in full", "state_dir", dir)
		return
	case err != nil:
		e.log.Warn("saved state cannot be used: the first refresh reads Intercom in full", "err", err)
		return
	case f.Identity != e.identity() && e.cfg.Demo:
		e.log.Info("demo: the workspace is generated afresh at every start, so saved state is not used", "state_dir", dir)
		return
	case f.Identity != e.identity():
		e.log.Warn("saved state belongs to another Intercom workspace (INTERCOM_API_BASE): not used; the first refresh reads Intercom in full",
			"state_dir", dir)
		return
	}
	e.runner.RestoreWritten(f.Written)
	e.frozenMu.Lock()
	for _, fr := range f.Frozen {
		e.frozen[fr.Month] = fr
	}
	e.frozenMu.Unlock()
	e.saver.set(func(sf *state.File) {
		sf.Written, sf.Frozen = f.Written, f.Frozen
	})
	if f.Data == nil {
		e.log.Info("saved state restored (no report data in it)", "frozen_months", len(f.Frozen), "written_overlay", len(f.Written))
		return
	}
	snap, err := state.DecodeSnapshot(f.Data)
	if err != nil {
		e.log.Warn("saved report data cannot be used: the first refresh reads Intercom in full", "err", fmt.Errorf("%w: %v", state.ErrCorrupt, err))
		return
	}
	if snap.Settings != e.settings() {
		e.log.Warn("saved report data was read with other settings (timezone, attributes, channels or lookback): the first refresh reads Intercom in full")
		return
	}
	st, err := storeFrom(snap)
	if err != nil {
		e.log.Warn("saved report data cannot be used: the first refresh reads Intercom in full", "err", err)
		return
	}
	loaded := time.Since(t0)
	model := engagement.Build(st.data(), e.ecfg, st.now)
	s := e.buildSnapshot(model, st.invalid(e.timeAttributes()))
	s.noChannel = noChannelInBillingWindow(model, st)
	s.refreshEnd = st.refreshEnd
	e.store = st
	e.snap.Store(s)
	e.saver.set(func(sf *state.File) { sf.Data = f.Data })
	e.mu.Lock()
	e.status.LastSuccess = st.refreshEnd
	e.status.WorkspaceTimezone = st.workspaceTZ
	e.status.AdminsKnown = st.adminsKnown
	e.mu.Unlock()
	e.m.restored(st.refreshEnd)
	e.log.Info("last reports restored from saved state; intercom_up stays 0 until a refresh succeeds",
		"data_timestamp", st.now.Format(time.RFC3339), "saved_at", f.SavedAt.Format(time.RFC3339),
		"sessions", len(model.Sessions), "contacts", len(st.contacts),
		"load", loaded.Round(time.Millisecond), "total", time.Since(t0).Round(time.Millisecond))
}

// saveData saves the store after a successful refresh (its encoding now,
// the write in the background). The caller holds refreshMu.
func (e *Exporter) saveData(st *store) {
	if e.cfg.StateDir == "" {
		return
	}
	t0 := time.Now()
	blob := state.EncodeSnapshot(st.snapshot(e.settings()))
	written, frozen := e.runner.Written(), e.frozenList()
	e.saver.update(func(f *state.File) {
		f.Data, f.Written, f.Frozen = blob, written, frozen
	})
	e.log.Debug("state encoded", "bytes", len(blob), "took", time.Since(t0).Round(time.Millisecond))
}

// saveWritten saves the sync's overlay after a run.
func (e *Exporter) saveWritten() {
	if e.cfg.StateDir == "" {
		return
	}
	written := e.runner.Written()
	e.saver.update(func(f *state.File) { f.Written = written })
}

// FlushState waits until the state updates made so far are written (for
// tests and a graceful stop).
func (e *Exporter) FlushState() { e.saver.flush() }

// saver writes the state file in the background, one write at a time; a
// write always has the latest of every part, and updates that come during
// a write are written together after it.
type saver struct {
	dir      string
	identity string
	log      *slog.Logger

	mu      sync.Mutex
	idle    *sync.Cond
	file    state.File
	dirty   bool
	running bool
}

func newSaver(dir, identity string, log *slog.Logger) *saver {
	s := &saver{dir: dir, identity: identity, log: log}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// set changes the parts to save without writing them (what was just read).
func (s *saver) set(fn func(*state.File)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.file)
}

// update changes the parts to save and starts a write unless one is going.
func (s *saver) update(fn func(*state.File)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.file)
	s.dirty = true
	if !s.running {
		s.running = true
		go s.loop()
	}
}

func (s *saver) loop() {
	for {
		s.mu.Lock()
		if !s.dirty {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		f := s.file // parts are replaced, never changed in place
		s.dirty = false
		s.mu.Unlock()

		f.Identity, f.SavedAt = s.identity, time.Now()
		t0 := time.Now()
		if err := state.Save(s.dir, &f); err != nil {
			s.log.Warn("saving state failed: a restart would read Intercom in full and frozen billing months could be lost", "err", err)
			continue
		}
		s.log.Debug("state saved", "bytes", len(f.Data), "took", time.Since(t0).Round(time.Millisecond))
	}
}

func (s *saver) flush() {
	if s == nil {
		return
	}
	s.mu.Lock()
	for s.running {
		s.idle.Wait()
	}
	s.mu.Unlock()
}
