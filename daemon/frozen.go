package daemon

import (
	"slices"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/state"
)

// FrozenMonthsKept bounds the frozen billing months kept in STATE_DIR (the
// most recent ones).
const FrozenMonthsKept = 36

// FrozenBilling is the frozen cohort of month (docs/reports.md): the records
// (in contact id order) as first computed once BILLING_FREEZE_DAYS had
// passed after the month's end, and when. ok is false when the month is not frozen (always without
// STATE_DIR). The records are shared: do not change them.
func (e *Exporter) FrozenBilling(month engagement.Month) (records []engagement.BillingRecord, frozenAt time.Time, ok bool) {
	if e.set.StateDir == "" {
		return nil, time.Time{}, false
	}
	e.frozenMu.RLock()
	defer e.frozenMu.RUnlock()
	f, ok := e.frozen[month]
	return f.Records, f.FrozenAt, ok
}

// freeze keeps the cohorts of the closed months that are due (more than
// BILLING_FREEZE_DAYS days after their last day) and not frozen yet, as m
// computes them: the previous month, and any month since the last frozen
// one that was missed (the exporter was stopped). It reports whether
// anything was frozen.
func (e *Exporter) freeze(m *engagement.Model) bool {
	if e.set.StateDir == "" {
		return false
	}
	prev := engagement.MonthOf(m.Today).Prev()
	e.frozenMu.Lock()
	defer e.frozenMu.Unlock()
	if e.frozenHeld {
		return false // the frozen months are in a file set aside (docs/state.md)
	}
	from := prev
	var latest engagement.Month
	for mo := range e.frozen {
		if latest.Before(mo) {
			latest = mo
		}
	}
	if latest.Year != 0 && latest.Before(prev) {
		from = latest.Next()
	}
	changed := false
	for mo := from; !prev.Before(mo); mo = mo.Next() {
		if _, done := e.frozen[mo]; done || int(m.Today-mo.Last()) <= e.set.BillingFreezeDays {
			continue
		}
		recs, err := m.BillingRecords(mo)
		if err != nil {
			continue // outside the data window: cannot be computed
		}
		slices.SortFunc(recs, func(a, b engagement.BillingRecord) int { return engagement.CompareIDs(a.ContactID, b.ContactID) })
		e.frozen[mo] = state.Frozen{Month: mo, FrozenAt: m.Now, Records: recs}
		e.freezeExceptions(m, mo)
		changed = true
		e.log.Info("billing month frozen: its cohort is kept and served as computed now", "month", mo.String(),
			"members", len(recs), "frozen_at", m.Now.Format(time.RFC3339))
	}
	// Months frozen before exceptions were kept get them at their first
	// computation since.
	for mo, f := range e.frozen {
		if !f.HasExceptions && e.freezeExceptions(m, mo) {
			changed = true
		}
	}
	for len(e.frozen) > FrozenMonthsKept {
		oldest := prev
		for mo := range e.frozen {
			if mo.Before(oldest) {
				oldest = mo
			}
		}
		delete(e.frozen, oldest)
	}
	return changed
}

// frozenList is the frozen months, oldest first.
func (e *Exporter) frozenList() []state.Frozen {
	e.frozenMu.RLock()
	defer e.frozenMu.RUnlock()
	out := make([]state.Frozen, 0, len(e.frozen))
	for _, f := range e.frozen {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b state.Frozen) int {
		switch {
		case a.Month.Before(b.Month):
			return -1
		case b.Month.Before(a.Month):
			return 1
		}
		return 0
	})
	return out
}

// freezeExceptions keeps the billing exceptions of the frozen month mo as m
// computes them (in contact id order), next to its cohort; it reports
// whether it did (not when mo is outside m's data window). The caller
// holds frozenMu.
func (e *Exporter) freezeExceptions(m *engagement.Model, mo engagement.Month) bool {
	xs, err := m.BillingExceptions(mo)
	if err != nil {
		return false
	}
	if xs == nil {
		xs = []engagement.BillingException{}
	}
	slices.SortFunc(xs, func(a, b engagement.BillingException) int { return engagement.CompareIDs(a.ContactID, b.ContactID) })
	f := e.frozen[mo]
	f.Exceptions, f.HasExceptions = xs, true
	e.frozen[mo] = f
	return true
}

// FrozenBillingExceptions is the frozen billing exceptions of month
// (docs/reports.md), kept with its cohort, and when the cohort was frozen;
// ok is false when the month or its exceptions are not frozen. The
// exceptions are shared: do not change them.
func (e *Exporter) FrozenBillingExceptions(month engagement.Month) (exceptions []engagement.BillingException, frozenAt time.Time, ok bool) {
	if e.set.StateDir == "" {
		return nil, time.Time{}, false
	}
	e.frozenMu.RLock()
	defer e.frozenMu.RUnlock()
	f, ok := e.frozen[month]
	if !ok || !f.HasExceptions {
		return nil, time.Time{}, false
	}
	return f.Exceptions, f.FrozenAt, true
}
