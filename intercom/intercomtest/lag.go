package intercomtest

import (
	"maps"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// Intercom's search index lags behind writes: a record changed at t is
// found by its new values only from about t+lag, and by its old ones (or,
// for a new record, not at all) until then. Reading a record by id (GET
// /contacts/{id}) sees the change at once. The exporter reads through the
// search only, so the lag is what its incremental overlap must cover
// (docs/freshness.md).

// lagged is the version of a record the search still sees: old (nil for
// a record created within the lag) until until (UNIX nanoseconds).
type lagged[T any] struct {
	old   *T
	until int64
}

// SetSearchLag makes the search see every change made from now on only
// lag after it was made, on the clock now (nil: time.Now); 0 turns the
// lag off. Deletions are seen at once.
func (w *Workspace) SetSearchLag(lag time.Duration, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lag, w.lagNow = lag, now
	if lag <= 0 {
		w.convLag, w.contactLag = nil, nil
		w.changed()
	}
}

// holdConv records conversation i as the search sees it before a change
// (existed: false for a new one); callers hold w.mu.
func (w *Workspace) holdConv(i int32, existed bool) {
	if w.lag <= 0 {
		return
	}
	if w.convLag == nil {
		w.convLag = map[int32]*lagged[convRec]{}
	}
	until := w.lagNow().Add(w.lag).UnixNano()
	if l, ok := w.convLag[i]; ok {
		l.until = until // the search shows the version before the first unseen change
		return
	}
	l := &lagged[convRec]{until: until}
	if existed {
		old := w.convs[i]
		l.old = &old
	}
	w.convLag[i] = l
}

// holdContact is holdConv for contact i.
func (w *Workspace) holdContact(i int32, existed bool) {
	if w.lag <= 0 {
		return
	}
	if w.contactLag == nil {
		w.contactLag = map[int32]*lagged[intercom.Contact]{}
	}
	until := w.lagNow().Add(w.lag).UnixNano()
	if l, ok := w.contactLag[i]; ok {
		l.until = until
		return
	}
	l := &lagged[intercom.Contact]{until: until}
	if existed {
		old := w.contacts[i].c
		old.CustomAttributes = maps.Clone(old.CustomAttributes) // changes edit the map in place
		l.old = &old
	}
	w.contactLag[i] = l
}

// catchUpIndex lets the search see the changes whose lag has passed.
func (w *Workspace) catchUpIndex() {
	w.mu.RLock()
	pending := len(w.convLag) + len(w.contactLag)
	w.mu.RUnlock()
	if pending == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.lagNow().UnixNano()
	n := len(w.convLag) + len(w.contactLag)
	maps.DeleteFunc(w.convLag, func(_ int32, l *lagged[convRec]) bool { return l.until <= now })
	maps.DeleteFunc(w.contactLag, func(_ int32, l *lagged[intercom.Contact]) bool { return l.until <= now })
	if len(w.convLag)+len(w.contactLag) != n {
		w.changed() // search totals change
	}
}

// searchedConv is conversation i as the search sees it (nil: not yet);
// callers hold w.mu.
func (w *Workspace) searchedConv(i int32) *convRec {
	if l, ok := w.convLag[i]; ok {
		return l.old
	}
	return &w.convs[i]
}

// searchedContact is contact i as the search sees it (nil: not yet).
func (w *Workspace) searchedContact(i int32) *intercom.Contact {
	if l, ok := w.contactLag[i]; ok {
		return l.old
	}
	return &w.contacts[i].c
}
