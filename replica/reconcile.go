package replica

import (
	"context"
	"slices"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// maxReconcileRequests bounds the requests one refresh spends looking for
// deleted records, and maxLeafRecords the records it reads in one range
// to find them. Beyond either the search stops, and the next refresh reads
// in full.
const (
	maxReconcileRequests = 64
	maxLeafRecords       = 20 * perPage
)

// reconcile finds records deleted in Intercom, which no "updated since"
// search can return. It counts, in one request each, the closed
// conversations of the data window and the contacts with a registration
// or last call value, and compares with the store. Only when they differ
// does it bisect the range (by updated_at, one count per step) down to
// ranges of about a page, reads those, and looks up by id the records the
// store has there and Intercom did not return: those not found are gone.
// It returns how many records it removed.
func (rep *Replica) reconcile(ctx context.Context, s *searcher, m *mapper, st *store, keepFrom, upper, today int64) (int, error) {
	b := &reconcileBudget{s: s, start: s.requests.Load()}
	n, err := rep.reconcileConversations(ctx, s, m, st, keepFrom, upper, b)
	if err != nil {
		return n, err
	}
	k, err := rep.reconcileContacts(ctx, s, m, st, keepFrom, b)
	if err != nil {
		return n + k, err
	}
	if b.incomplete {
		rep.forceFull = "looking for deleted records needed too many requests"
		rep.log.Warn("counts of conversations or contacts differ from Intercom's in many places: the next refresh reads in full",
			"requests", s.requests.Load()-b.start)
	}
	return n + k, nil
}

// reconcileBudget is what a reconciliation may spend; once over it, or once a range
// is too large to read, it is incomplete and stops.
type reconcileBudget struct {
	s          *searcher
	start      int64
	incomplete bool
}

func (b *reconcileBudget) over() bool {
	if b.s.requests.Load()-b.start >= maxReconcileRequests {
		b.incomplete = true
	}
	return b.incomplete
}

// bisection is one range of a reconciliation: its bounds, Intercom's
// count and the store's values in it (sorted).
type bisection struct {
	lo, hi int64
	server int
	vals   []int64
}

// bisect narrows the ranges whose counts differ down to leaves of about a
// page (or of a single value of the field), counting one half of a range
// per request (the other half's count is the difference). Ranges left
// once over budget, and leaves too large to read, are dropped (the budget
// is then incomplete).
func bisect(root bisection, count func(lo, hi int64) (int, error), b *reconcileBudget) ([]bisection, error) {
	var leaves []bisection
	jobs := []bisection{root}
	for len(jobs) > 0 {
		j := jobs[len(jobs)-1]
		jobs = jobs[:len(jobs)-1]
		if j.server == len(j.vals) || b.over() {
			continue
		}
		if (len(j.vals) <= perPage && j.server <= 2*perPage) || (j.lo == j.hi && j.lo != openLo) || len(j.vals) == 0 {
			if max(j.server, len(j.vals)) > maxLeafRecords {
				b.incomplete = true // too large to read: left to a full read
				continue
			}
			leaves = append(leaves, j)
			continue
		}
		mid := j.lo + (j.hi-j.lo)/2
		if len(j.vals) > 0 {
			mid = j.vals[len(j.vals)/2]
		}
		if j.lo != openLo && mid <= j.lo {
			mid = j.lo + 1
		}
		k, _ := slices.BinarySearch(j.vals, mid)
		n, err := count(j.lo, mid-1)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs,
			bisection{lo: j.lo, hi: mid - 1, server: n, vals: j.vals[:k]},
			bisection{lo: mid, hi: j.hi, server: j.server - n, vals: j.vals[k:]})
	}
	return leaves, nil
}

func (rep *Replica) reconcileConversations(ctx context.Context, s *searcher, m *mapper, st *store, keepFrom, upper int64, b *reconcileBudget) (int, error) {
	closed := intercom.Filter("state", "=", "closed")
	count := func(lo, hi int64) (int, error) {
		return s.countConversations(ctx, and(append(s.convExact(lo, hi), closed)...))
	}
	server, err := count(keepFrom, upper)
	if err != nil {
		return 0, err
	}
	var vals []int64
	for _, u := range st.sessUpdated {
		if u >= keepFrom && u <= upper {
			vals = append(vals, u)
		}
	}
	for _, u := range st.others {
		if u >= keepFrom && u <= upper {
			vals = append(vals, u)
		}
	}
	if server == len(vals) {
		return 0, nil
	}
	slices.Sort(vals)
	leaves, err := bisect(bisection{lo: keepFrom, hi: upper, server: server, vals: vals}, count, b)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, l := range leaves {
		read := newConvSet()
		err := runRanged(ctx, s, ranged[intercom.Conversation]{
			what:  "reading conversations to find deleted ones",
			query: func(span) intercom.Query { return and(append(s.convExact(l.lo, l.hi), closed)...) },
			page:  rep.client.SearchConversationsPage,
			emit:  func(page []intercom.Conversation) { read.add(m.conversations(page)) },
		}, span{l.lo, l.hi})
		if err != nil {
			return removed, err
		}
		var missing []string
		local := func(id string, u int64) {
			if _, ok := read.at[id]; !ok && u >= l.lo && u <= l.hi {
				missing = append(missing, id)
			}
		}
		for i := range st.sessions {
			local(st.sessions[i].ID, st.sessUpdated[i])
		}
		for id, u := range st.others {
			local(id, u)
		}
		// Missing from the range: deleted, or changed since the read.
		found := newConvSet()
		if err := byID(ctx, s, "searching conversations", missing, rep.client.SearchConversationsPage,
			func(page []intercom.Conversation) { found.add(m.conversations(page)) }); err != nil {
			return removed, err
		}
		recs := append(read.list, found.list...)
		for _, id := range missing {
			if _, ok := found.at[id]; !ok {
				recs = append(recs, convRec{id: id, deleted: true})
				removed++
			}
		}
		if err := rep.merge(ctx, s, m, st, recs, newContactSet(), keepFrom); err != nil {
			return removed, err
		}
	}
	if removed > 0 {
		rep.log.Info("conversations deleted in Intercom removed", "conversations", removed)
	}
	return removed, nil
}

func (rep *Replica) reconcileContacts(ctx context.Context, s *searcher, m *mapper, st *store, keepFrom int64, b *reconcileBudget) (int, error) {
	qs := attributeQueries(m.attrs)
	if len(qs) != 1 {
		return 0, nil // more than 15 attributes: left to the full reads
	}
	q := qs[0]
	count := func(lo, hi int64) (int, error) {
		return s.countContacts(ctx, and(append(contactDays(span{lo, hi}, m.wsLoc), q)...))
	}
	server, err := count(openLo, openHi)
	if err != nil {
		return 0, err
	}
	var days []int64
	for i := range st.contacts {
		if st.cmeta[i].Attr && !st.contacts[i].Unread {
			days = append(days, int64(engagement.DayOfUnix(st.contacts[i].UpdatedAt, m.wsLoc)))
		}
	}
	if server == len(days) {
		return 0, nil
	}
	slices.Sort(days)
	leaves, err := bisect(bisection{lo: openLo, hi: openHi, server: server, vals: days}, count, b)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, l := range leaves {
		read := newContactSet()
		err := runRanged(ctx, s, ranged[intercom.Contact]{
			what:  "reading contacts to find deleted ones",
			query: func(span) intercom.Query { return and(append(contactDays(span{l.lo, l.hi}, m.wsLoc), q)...) },
			page:  rep.client.SearchContactsPage,
			emit:  func(page []intercom.Contact) { read.add(m.contacts(page)) },
		}, span{l.lo, l.hi})
		if err != nil {
			return removed, err
		}
		var missing []string
		for i := range st.contacts {
			c := &st.contacts[i]
			if !st.cmeta[i].Attr || c.Unread || read.has(c.ID) {
				continue
			}
			if d := int64(engagement.DayOfUnix(c.UpdatedAt, m.wsLoc)); (l.lo == openLo || d >= l.lo) && (l.hi == openHi || d <= l.hi) {
				missing = append(missing, c.ID)
			}
		}
		// Missing from the range: deleted, or changed since the read.
		if err := rep.contactsByID(ctx, s, m, missing, read); err != nil {
			return removed, err
		}
		var gone []string
		for _, id := range missing {
			if !read.has(id) {
				gone = append(gone, id)
			}
		}
		st.apply(nil, read.m, gone, keepFrom)
		removed += len(gone)
	}
	if removed > 0 {
		rep.log.Info("contacts deleted in Intercom removed", "contacts", removed)
	}
	return removed, nil
}
