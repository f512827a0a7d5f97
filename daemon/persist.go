package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/replica"
	"github.com/coaching/intercom_exporter/state"
)

// Restore loads the state saved in STATE_DIR, once, before any call to
// Intercom: the sync's overlay of written values, the frozen billing
// months and the data of the last refresh, from which the last reports are
// published at once (ready, with intercom_up 0 until a refresh succeeds);
// the next refresh then reads only what changed. With no file, or data
// saved with other settings, the first refresh reads Intercom in full. A
// file that cannot be used (damaged, a newer format, another workspace) is
// moved aside, never overwritten, and logged as an error; while a file is
// set aside no billing month is frozen from live data (docs/state.md).
// Run calls it; it does nothing without STATE_DIR.
func (e *Exporter) Restore() {
	if e.set.StateDir == "" {
		return
	}
	e.restoreOnce.Do(e.restore)
}

func (e *Exporter) restore() {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	t0 := time.Now()
	dir := e.set.StateDir
	f := e.load(dir)
	e.holdFreezingIfSetAside(dir)
	if f == nil {
		return
	}
	e.useFrozenAndWritten(f)
	e.saver.set(func(sf *state.File) {
		sf.Written, sf.Frozen = f.Written, f.Frozen
		sf.WorkspaceID, sf.TokenFingerprint = f.WorkspaceID, f.TokenFingerprint
	})
	if f.Data == nil {
		e.log.Info("saved state restored (no report data in it)", "frozen_months", len(f.Frozen), "written_overlay", len(f.Written))
		return
	}
	data, st, err := e.rep.Restore(f.Data)
	switch {
	case errors.Is(err, replica.ErrOtherSettings):
		e.log.Warn("saved report data was read with other settings (timezone, attributes, channels or lookback): the first refresh reads Intercom in full")
		return
	case err != nil:
		e.log.Warn("saved report data cannot be used: the first refresh reads Intercom in full", "err", err)
		return
	}
	loaded := time.Since(t0)
	model := engagement.Build(data, e.set.Rules, st.Now)
	e.publish(model, st)
	e.pubEnd = st.RefreshEnd
	e.saver.set(func(sf *state.File) { sf.Data = f.Data })
	if e.expectWorkspace == "" {
		// Not bound yet (migrated): its data still names its workspace.
		e.expectWorkspace = st.WorkspaceID
	}
	e.mu.Lock()
	e.status.LastSuccess = st.RefreshEnd
	e.status.WorkspaceTimezone = st.WorkspaceTimezone
	e.status.WorkspaceID = st.WorkspaceID
	e.status.AdminsKnown = st.AdminsKnown
	e.mu.Unlock()
	e.col.Restored(st.RefreshEnd)
	e.log.Info("last reports restored from saved state; intercom_up stays 0 until a refresh succeeds",
		"data_timestamp", st.Now.Format(time.RFC3339), "saved_at", f.SavedAt.Format(time.RFC3339),
		"sessions", len(model.Sessions), "contacts", st.Contacts,
		"load", loaded.Round(time.Millisecond), "total", time.Since(t0).Round(time.Millisecond))
}

// demoIdentity starts the identity of a demo workspace.
const demoIdentity = "demo:"

// load reads the state file; nil when there is none, it cannot be used
// (logged) or it is held back until GET /me confirms its workspace.
//
// A file bound to a workspace (its app id, written since this format)
// belongs to that workspace whatever INTERCOM_API_BASE says (a proxy in
// between changes the base, not the workspace). Written with the same
// token, it is served at once and confirmed at the first answer of GET
// /me; with another token nothing of it is served until GET /me names the
// same workspace (confirmWorkspace). A file not bound yet (migrated from
// version 1) is matched by the API base, as it was written, and bound at
// the next save.
func (e *Exporter) load(dir string) *state.File {
	f, err := state.Load(dir)
	if err == nil && e.set.Demo && strings.HasPrefix(f.Identity, demoIdentity) {
		e.log.Info("demo: the workspace is generated afresh at every start, so saved state is not used", "state_dir", dir)
		return nil
	}
	switch {
	case err != nil:
	case f.WorkspaceID != "" && f.TokenFingerprint == e.set.TokenFingerprint:
		e.expectWorkspace = f.WorkspaceID
		return f
	case f.WorkspaceID != "":
		e.pending = f
		e.log.Warn("saved state was written with another access token: nothing of it (reports, frozen billing months, "+
			"the sync's record) is used until GET /me confirms the same workspace", "saved_workspace_id", f.WorkspaceID)
		return nil
	case f.Identity != e.set.Identity:
		err = state.SetAside(dir, state.ReasonOtherWorkspace,
			fmt.Errorf("%w (INTERCOM_API_BASE differs from the one it was saved with)", state.ErrOtherWorkspace))
	}
	switch {
	case err == nil:
		return f
	case errors.Is(err, state.ErrNoState):
		e.log.Info("no saved state yet: the first refresh reads Intercom in full", "state_dir", dir)
	case errors.Is(err, state.ErrSetAside):
		e.log.Error("saved state cannot be used and was moved aside, nothing overwritten: the first refresh reads Intercom in full", "err", err)
	default:
		e.keepInPlace()
		e.log.Error("saved state cannot be used and is left in place: the first refresh reads Intercom in full; "+
			"nothing is saved and no billing month is frozen until it is dealt with (docs/state.md)", "err", err)
	}
	return nil
}

// keepInPlace stops saving and freezing for good: a state file that cannot
// be used is still in place, and saving would overwrite it.
func (e *Exporter) keepInPlace() {
	e.saver.stop()
	e.frozenMu.Lock()
	e.frozenHeld, e.leftInPlace = true, true
	e.frozenMu.Unlock()
	// Counted with the files set aside: it holds frozen months just the same.
	e.col.SetAsideFiles(1)
}

// confirmWorkspace compares the workspace GET /me named (its app id) with
// the one the saved state belongs to. The same: the state held back is
// used now. Another: the state file is moved aside (other-workspace) and
// nothing of it stays, neither reports nor frozen months nor the sync's
// record; no month is frozen while it is aside. The caller holds
// refreshMu, before anything of the refresh is frozen or published.
func (e *Exporter) confirmWorkspace(id string) {
	switch {
	case e.pending != nil && e.pending.WorkspaceID == id:
		f := e.pending
		e.pending = nil
		e.useFrozenAndWritten(f)
		e.saver.set(func(sf *state.File) { sf.Written, sf.Frozen = f.Written, f.Frozen })
		e.log.Info("GET /me confirms the workspace of the saved state (written with another access token): "+
			"its frozen billing months and the sync's record are used; the reports are read afresh",
			"workspace_id", id, "frozen_months", len(f.Frozen), "written_overlay", len(f.Written))
	case e.pending != nil:
		saved := e.pending.WorkspaceID
		e.pending = nil
		e.otherWorkspace(saved, id)
	case e.expectWorkspace == id:
		e.expectWorkspace = ""
		e.log.Debug("GET /me confirms the workspace of the saved state", "workspace_id", id)
	case e.expectWorkspace != "":
		saved := e.expectWorkspace
		e.expectWorkspace = ""
		// Served since the start: withdrawn now, replaced by this
		// workspace's reports once its refresh succeeds.
		e.frozenMu.Lock()
		clear(e.frozen)
		e.frozenMu.Unlock()
		e.runner.RestoreWritten(nil)
		e.saver.set(func(sf *state.File) { *sf = state.File{} })
		e.col.Withdraw()
		e.col.Restored(time.Time{})
		e.pubEnd = time.Time{}
		e.mu.Lock()
		e.status.LastSuccess = time.Time{}
		e.mu.Unlock()
		e.otherWorkspace(saved, id)
	}
}

// otherWorkspace sets aside the state file of workspace saved, GET /me
// having named workspace now.
func (e *Exporter) otherWorkspace(saved, now string) {
	dir := e.set.StateDir
	err := state.SetAside(dir, state.ReasonOtherWorkspace,
		fmt.Errorf("%w: saved for workspace %q, GET /me names %q", state.ErrOtherWorkspace, saved, now))
	if errors.Is(err, state.ErrSetAside) {
		e.log.Error("saved state belongs to another Intercom workspace and was moved aside, nothing of it is served: "+
			"no frozen billing month and no sync record of it; the reports are read afresh from this workspace (docs/shutdown-and-workspace.md)",
			"err", err, "saved_workspace_id", saved, "workspace_id", now)
	} else {
		e.keepInPlace()
		e.log.Error("saved state belongs to another Intercom workspace and cannot be moved aside: nothing of it is served, "+
			"nothing is saved and no billing month is frozen until it is dealt with (docs/state.md)",
			"err", err, "saved_workspace_id", saved, "workspace_id", now)
	}
	e.holdFreezingIfSetAside(dir)
}

// useFrozenAndWritten takes the frozen months and the sync's record of f.
func (e *Exporter) useFrozenAndWritten(f *state.File) {
	e.runner.RestoreWritten(f.Written)
	e.frozenMu.Lock()
	for _, fr := range f.Frozen {
		e.frozen[fr.Month] = fr
	}
	e.frozenMu.Unlock()
}

// holdFreezingIfSetAside stops freezing billing months from live data while
// a state file set aside is in dir: the frozen months are in it.
func (e *Exporter) holdFreezingIfSetAside(dir string) {
	aside, err := state.SetAsideFiles(dir)
	e.frozenMu.Lock()
	n := len(aside)
	if e.leftInPlace {
		n++
	}
	if err == nil && len(aside) == 0 {
		e.frozenMu.Unlock()
		e.col.SetAsideFiles(n)
		return
	}
	e.frozenHeld = true
	e.frozenMu.Unlock()
	if err != nil && n == 0 {
		n = 1 // unknown: the alert must not stay quiet
	}
	e.col.SetAsideFiles(n)
	if err != nil {
		e.log.Error("cannot list the state folder: no billing month is frozen until this restart succeeds", "err", err)
		return
	}
	e.log.Error("state files set aside hold frozen billing months: no month is frozen from live data until an operator "+
		"puts them back or moves them out of STATE_DIR (docs/state.md)", "files", strings.Join(aside, ", "))
}

// saveData saves the replica after a successful refresh that ended at end
// (its encoding now, the write in the background). The caller holds
// refreshMu.
func (e *Exporter) saveData(end time.Time) {
	if e.set.StateDir == "" {
		return
	}
	t0 := time.Now()
	blob := e.rep.Encode(end)
	written, frozen := e.runner.Written(), e.frozenList()
	e.mu.Lock()
	workspaceID := e.status.WorkspaceID
	e.mu.Unlock()
	e.saver.update(func(f *state.File) {
		f.Data, f.Written, f.Frozen = blob, written, frozen
		f.WorkspaceID, f.TokenFingerprint = workspaceID, e.set.TokenFingerprint
	})
	e.log.Debug("state encoded", "bytes", len(blob), "took", time.Since(t0).Round(time.Millisecond))
}

// saveWritten saves the sync's overlay after a run.
func (e *Exporter) saveWritten() {
	if e.set.StateDir == "" {
		return
	}
	written := e.runner.Written()
	e.saver.update(func(f *state.File) { f.Written = written })
}

// FlushState waits until the state updates made so far are written (for
// tests and a graceful stop).
func (e *Exporter) FlushState() { e.saver.flush() }

// flushWithin is FlushState waiting at most d (the last step of a stop).
func (e *Exporter) flushWithin(d time.Duration) {
	done := make(chan struct{})
	go func() {
		e.FlushState()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		e.log.Error("the final save of the state did not finish in time; the previous state file stays as it was", "timeout", d)
	}
}

// saver writes the state file in the background, one write at a time; a
// write always has the latest of every part, and updates that come during
// a write are written together after it.
type saver struct {
	dir      string
	identity string
	log      *slog.Logger
	// failed counts a failed save; died reports a write loop that
	// stopped unexpectedly.
	failed func()
	died   func(error)

	mu      sync.Mutex
	idle    *sync.Cond
	file    state.File
	dirty   bool
	running bool
	stopped bool // a state file that must not be overwritten is in place
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
	if !s.running && !s.stopped {
		s.running = true
		go s.loop()
	}
}

func (s *saver) loop() {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.running, s.stopped = false, true
			s.idle.Broadcast()
			s.mu.Unlock()
			if s.died != nil {
				s.died(fmt.Errorf("the state saver stopped unexpectedly: panic: %v", r))
			}
		}
	}()
	for {
		s.mu.Lock()
		if !s.dirty || s.stopped {
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
			if s.failed != nil {
				s.failed()
			}
			s.log.Error("saving state failed: a restart would read Intercom in full and frozen billing months could be lost", "err", err)
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

// stop ends saving for good.
func (s *saver) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}
