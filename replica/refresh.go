package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// idsPerSearch is how many ids one search by id asks for (one "IN"
// filter): a full page.
const idsPerSearch = 150

// readResult is one complete read of Intercom, merged into a store.
type readResult struct {
	store             *store
	kind              Kind
	reason            string // why the read was full
	adminsChanged     bool
	workspaceTimezone string
	workspaceID       string // GET /me's app id_code
	conversationsRead int
	contactsRead      int
	requests          int64 // search requests
	removed           int   // records found deleted by reconciling counts
	// How long the phases took: the searches, the contacts read by id, and
	// (incremental reads) the comparison of counts.
	searchTime, byIDTime, reconcileTime time.Duration
}

// read brings the data up to date (docs/intercom.md): in full when there
// is no data yet, every FULL_REFRESH_INTERVAL and when something the data
// depends on changed; otherwise only what changed since the last read: the
// conversations at every refresh, and every SLOW_REFRESH_INTERVAL (or when
// asked) the workspace, admins, data attributes and contacts too, with the
// counts compared (docs/freshness.md). Any error fails the whole read:
// nothing partial is ever published (an incremental read may have merged
// part of its changes into the store, which is safe: the next read starts
// from the same watermark).
func (rep *Replica) read(ctx context.Context, now time.Time) (*readResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &readResult{kind: rep.Next(now)}
	s := newSearcher(rep.client, rep.set.RefreshConcurrency, &rep.convBounds)
	defer func() { r.requests = s.requests.Load() }()
	keepFrom := rep.windowStart(now) - 1

	if r.kind == Quick {
		// The workspace, admins and attribute types are those of the last
		// slow read; contacts a changed session lists and the copy lacks
		// are read by id, so what is published is as consistent as after
		// a slow read.
		base := rep.store
		m := rep.newMapper(base.attrTypes, base.attrTypesKnown, base.wsLoc)
		r.workspaceTimezone, r.workspaceID = base.workspaceTZ, base.workspaceID
		if err := rep.quickRead(ctx, s, m, base, now, keepFrom, r); err != nil {
			return r, err
		}
		base.readAt = now
		r.store = base
		return r, nil
	}

	ws, err := rep.client.Me(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the workspace (GET /me): %w", err)
	}
	r.workspaceTimezone, r.workspaceID = ws.Timezone, ws.IDCode
	wsLoc, err := time.LoadLocation(ws.Timezone)
	if err != nil || ws.Timezone == "" {
		rep.warnOnce("workspace-tz", "the workspace timezone (GET /me) is not a known IANA name: incremental contact reads overlap by an extra day", "timezone", ws.Timezone)
		wsLoc = nil
	}

	// Admins (refused with 403: coaches are shown by id, docs/intercom.md)
	// and the contact attributes' types, which the searches depend on.
	var (
		wg          sync.WaitGroup
		admins      []engagement.Admin
		adminsKnown bool
		types       = map[string]string{}
		typesKnown  bool
		errMu       sync.Mutex
		firstErr    error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel(err)
		}
		errMu.Unlock()
	}
	wg.Go(func() {
		list, err := rep.client.ListAdmins(ctx)
		var apiErr *intercom.APIError
		switch {
		case err == nil:
			admins = make([]engagement.Admin, 0, len(list))
			for _, a := range list {
				admins = append(admins, engagement.Admin{ID: a.ID, Name: a.Name})
			}
			adminsKnown = true
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
			rep.warnOnce("admins-403", "admins cannot be read (403): coaches are shown by admin id; grant the token the read admins permission to see names", "err", err)
		default:
			fail(fmt.Errorf("reading admins (GET /admins): %w", err))
		}
	})
	wg.Go(func() {
		attrs, err := rep.client.ListDataAttributes(ctx, "contact")
		var apiErr *intercom.APIError
		switch {
		case err == nil:
			for _, a := range attrs {
				if !a.Archived || types[a.Name] == "" {
					types[a.Name] = a.DataType
				}
			}
			typesKnown = true
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
			rep.warnOnce("data-attributes-403", "contact data attributes cannot be read (403): the engagement sync cannot run; grant the token the read data attributes permission", "err", err)
		default:
			fail(fmt.Errorf("reading contact data attributes (GET /data_attributes): %w", err))
		}
	})
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}

	m := rep.newMapper(types, typesKnown, wsLoc)
	base := rep.store
	if r.kind == Full {
		r.reason = rep.fullReason(now)
	} else {
		switch {
		case base.workspaceTZ != ws.Timezone || base.workspaceID != ws.IDCode:
			r.reason = "the workspace or its timezone changed"
		case base.attrTypesKnown != typesKnown || !maps.Equal(base.attrTypes, types):
			r.reason = "the contact attributes changed"
		}
		if r.reason != "" {
			// Read in full next, under the full read's own time bound.
			rep.forceFull = r.reason
			return r, fmt.Errorf("%w (%s)", ErrFullReadNeeded, r.reason)
		}
	}

	var st *store
	if r.kind == Full {
		// The previous data only says where to cut the searches. It is let
		// go now, so that the two are never held together (should the read
		// fail, the next refresh reads in full again).
		var convSample, daySample []int64
		if base != nil {
			convSample, daySample = base.samples(m.wsLoc)
		}
		rep.store, base = nil, nil
		st, err = rep.fullRead(ctx, s, m, convSample, daySample, now, keepFrom, r)
	} else {
		st = base
		err = rep.incrementalRead(ctx, s, m, st, now, keepFrom, r)
	}
	if err != nil {
		return r, err
	}
	r.adminsChanged = st.adminsKnown != adminsKnown || !slices.Equal(st.admins, admins)
	st.admins, st.adminsKnown = admins, adminsKnown
	st.attrTypes, st.attrTypesKnown = types, typesKnown
	st.workspaceID, st.workspaceTZ, st.wsLoc = ws.IDCode, ws.Timezone, m.wsLoc
	st.readAt, st.slowAt = now, now
	if r.kind == Full {
		st.fullAt = now
	}
	r.store = st
	return r, nil
}

// newMapper maps what a read brings, for the contact attributes' types
// and the workspace timezone (nil: unknown, UTC is assumed).
func (rep *Replica) newMapper(types map[string]string, typesKnown bool, wsLoc *time.Location) *mapper {
	m := &mapper{
		set:      &rep.set,
		channels: engagement.NewChannels(rep.set.Rules),
		attrs:    rep.searchAttrs(types, typesKnown),
		wsLoc:    wsLoc,
		names:    rep.set.TimeAttributes(),
		loc:      rep.set.Rules.Location,
		types:    types,
	}
	if m.wsKnown = m.wsLoc != nil; !m.wsKnown {
		m.wsLoc = time.UTC
	}
	m.dateFloor = dateFloor(m.wsLoc)
	return m
}

// windowStart is the start of the data window: the first day of the
// lookback, in the organisation timezone. Conversations updated before it
// are not read.
func (rep *Replica) windowStart(now time.Time) int64 {
	loc := rep.set.Rules.Location
	return (engagement.DayOf(now, loc) - engagement.Day(rep.set.Rules.LookbackDays)).Start(loc).Unix()
}

// fullRead reads everything the reports need: the closed conversations
// updated in the data window and the contacts with a registration or last
// call value, then every contact a session lists that those did not bring.
// The searches are split into ranges read at once (see runRanged); the
// previous data, when there is some, says where to cut.
func (rep *Replica) fullRead(ctx context.Context, s *searcher, m *mapper, convSample, daySample []int64, now time.Time, keepFrom int64, r *readResult) (*store, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	today := int64(engagement.DayOf(now, m.wsLoc))
	nowUnix := now.Unix()

	// Pages go straight into the new store (contacts a session lists and
	// no page brought yet wait there as Unread), so a read of a million
	// conversations holds them once, compactly.
	t0 := time.Now()
	st := newStore()
	var mu sync.Mutex
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel(err) })
	}
	closed := intercom.Filter("state", "=", "closed")
	convsDone, attrsDone := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		defer close(convsDone)
		err := runRanged(ctx, s, ranged[intercom.Conversation]{
			what:  "searching conversations",
			query: func(sp span) intercom.Query { return and(append(s.convRange(sp), closed)...) },
			page:  rep.client.SearchConversationsPage,
			cuts: func(sp span, parts int, read []intercom.Conversation) []int64 {
				s.learnBounds(ctx, read)
				return evenCuts(sp, parts, earliest(read, keepFrom), nowUnix, convSample)
			},
			emit: func(page []intercom.Conversation) {
				recs := m.conversations(page)
				mu.Lock()
				st.applyConversations(recs, keepFrom)
				r.conversationsRead += len(recs)
				mu.Unlock()
			},
		}, span{keepFrom, openHi})
		if err != nil {
			fail(err)
		}
	})
	var attrWG sync.WaitGroup
	for _, q := range attributeQueries(m.attrs) {
		attrWG.Go(func() {
			err := runRanged(ctx, s, ranged[intercom.Contact]{
				what:  "searching contacts with a registration or last call value",
				query: func(sp span) intercom.Query { return and(append(contactDays(sp, m.wsLoc), q)...) },
				page:  rep.client.SearchContactsPage,
				cuts: func(sp span, parts int, page []intercom.Contact) []int64 {
					return evenCuts(sp, parts, oldestDay(page, m.wsLoc, today), today, daySample)
				},
				emit: func(page []intercom.Contact) {
					recs := m.contacts(page)
					mu.Lock()
					st.applyContacts(contactMap(recs), nil)
					r.contactsRead += len(recs)
					mu.Unlock()
				},
			}, span{openLo, openHi})
			if err != nil {
				fail(err)
			}
		})
	}
	wg.Go(func() {
		attrWG.Wait()
		close(attrsDone)
	})

	// Every contact listed on a session that the searches do not bring:
	// by id, 150 a search, never one GET per contact. They are read while
	// the conversations are, once the contact searches are done (before,
	// a contact could still come from them), so that a large read is not
	// followed by a tail of look-ups.
	var byIDTime time.Duration
	wg.Go(func() {
		select {
		case <-attrsDone:
		case <-ctx.Done():
			return
		}
		t1 := time.Now()
		defer func() { byIDTime = time.Since(t1) }()
		var fetches sync.WaitGroup
		defer fetches.Wait()
		var pending []string
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			finished := false
			select {
			case <-convsDone:
				finished = true
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			for _, id := range st.takeListedUnread() {
				if i, ok := st.contactAt[id]; ok && st.contacts[i].Unread {
					pending = append(pending, id)
				}
			}
			mu.Unlock()
			for len(pending) >= idsPerSearch || (finished && len(pending) > 0) {
				chunk := pending[:min(idsPerSearch, len(pending))]
				pending = pending[len(chunk):]
				fetches.Go(func() {
					found := newContactSet()
					if err := rep.contactsByID(ctx, s, m, chunk, found); err != nil {
						fail(err)
						return
					}
					mu.Lock()
					st.applyContacts(found.m, nil)
					r.contactsRead += len(found.m)
					mu.Unlock()
				})
			}
			if finished {
				return
			}
		}
	})
	wg.Wait()
	if first != nil {
		return nil, first
	}
	r.searchTime, r.byIDTime = time.Since(t0), byIDTime
	st.finish(keepFrom)
	return st, nil
}

// contactMap keys contacts by id.
func contactMap(recs []contactRec) map[string]contactRec {
	m := make(map[string]contactRec, len(recs))
	for _, r := range recs {
		if old, ok := m[r.c.ID]; !ok || old.c.UpdatedAt <= r.c.UpdatedAt {
			m[r.c.ID] = r
		}
	}
	return m
}

// incrementalRead brings st up to date with what changed since its last
// read: conversations updated since then, in every state (a reopened or
// re-channelled conversation stops being a session), and contacts updated
// since the start of that day in the workspace timezone (the contact
// search compares dates by whole day there). Then the contacts that
// changed sessions list and the store lacks, by id; then counts are
// compared with Intercom's to find deletions (see reconcile).
func (rep *Replica) incrementalRead(ctx context.Context, s *searcher, m *mapper, st *store, now time.Time, keepFrom int64, r *readResult) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	from := st.readAt.Add(-rep.set.overlap()).Unix()
	fromDay := int64(engagement.DayOfUnix(st.slowAt.Add(-rep.set.overlap()).Unix(), m.wsLoc))
	if !m.wsKnown {
		fromDay-- // the workspace timezone is unknown: overlap a day more
	}
	today := int64(engagement.DayOf(now, m.wsLoc))
	nowUnix := now.Unix()
	convs, contacts := newConvSet(), newContactSet()

	t0 := time.Now()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel(err) })
	}
	wg.Go(func() {
		err := runRanged(ctx, s, ranged[intercom.Conversation]{
			what:  "searching conversations updated since the last read",
			query: func(sp span) intercom.Query { return and(s.convRange(sp)...) },
			page:  rep.client.SearchConversationsPage,
			cuts: func(sp span, parts int, read []intercom.Conversation) []int64 {
				s.learnBounds(ctx, read)
				return evenCuts(sp, parts, earliest(read, from), nowUnix, nil)
			},
			emit: func(page []intercom.Conversation) { convs.add(m.conversations(page)) },
		}, span{from, openHi})
		if err != nil {
			fail(err)
		}
	})
	wg.Go(func() {
		err := runRanged(ctx, s, ranged[intercom.Contact]{
			what:  "searching contacts updated since the last read",
			query: func(sp span) intercom.Query { return and(contactDays(sp, m.wsLoc)...) },
			page:  rep.client.SearchContactsPage,
			cuts: func(sp span, parts int, _ []intercom.Contact) []int64 {
				return evenCuts(sp, parts, fromDay, today, nil)
			},
			emit: func(page []intercom.Contact) { contacts.add(m.contacts(page)) },
		}, span{fromDay, openHi})
		if err != nil {
			fail(err)
		}
	})
	wg.Wait()
	if first != nil {
		return first
	}
	r.searchTime = time.Since(t0)
	t1 := time.Now()
	if err := rep.merge(ctx, s, m, st, convs.list, contacts, keepFrom); err != nil {
		return err
	}
	r.byIDTime = time.Since(t1)
	r.conversationsRead, r.contactsRead = convs.read, len(contacts.m)
	t2 := time.Now()
	removed, err := rep.reconcile(ctx, s, m, st, keepFrom, nowUnix, today)
	r.removed = removed
	r.reconcileTime = time.Since(t2)
	return err
}

// quickRead brings st up to date with the conversations updated since its
// last read, in every state, then reads by id the contacts that changed
// sessions list and the store lacks (see merge). Contacts, admins and
// deletions wait for the next slow read.
func (rep *Replica) quickRead(ctx context.Context, s *searcher, m *mapper, st *store, now time.Time, keepFrom int64, r *readResult) error {
	from := st.readAt.Add(-rep.set.overlap()).Unix()
	nowUnix := now.Unix()
	convs := newConvSet()
	t0 := time.Now()
	err := runRanged(ctx, s, ranged[intercom.Conversation]{
		what:  "searching conversations updated since the last read",
		query: func(sp span) intercom.Query { return and(s.convRange(sp)...) },
		page:  rep.client.SearchConversationsPage,
		cuts: func(sp span, parts int, read []intercom.Conversation) []int64 {
			s.learnBounds(ctx, read)
			return evenCuts(sp, parts, earliest(read, from), nowUnix, nil)
		},
		emit: func(page []intercom.Conversation) { convs.add(m.conversations(page)) },
	}, span{from, openHi})
	if err != nil {
		return err
	}
	r.searchTime = time.Since(t0)
	t1 := time.Now()
	contacts := newContactSet()
	if err := rep.merge(ctx, s, m, st, convs.list, contacts, keepFrom); err != nil {
		return err
	}
	r.byIDTime = time.Since(t1)
	r.conversationsRead, r.contactsRead = convs.read, len(contacts.m)
	return nil
}

// merge reads the contacts that the sessions in convs list and neither
// contacts nor the store has, then merges everything into st.
func (rep *Replica) merge(ctx context.Context, s *searcher, m *mapper, st *store, convs []convRec, contacts *contactSet, keepFrom int64) error {
	var missing []string
	for i := range convs {
		c := &convs[i]
		if c.kind != convSession || c.updatedAt < keepFrom {
			continue
		}
		for _, id := range c.contactIDs {
			if _, ok := st.contactAt[id]; !ok && id != "" && !contacts.has(id) {
				missing = append(missing, id)
			}
		}
	}
	if err := rep.contactsByID(ctx, s, m, missing, contacts); err != nil {
		return err
	}
	st.apply(convs, contacts.m, nil, keepFrom)
	return nil
}

// contactsByID reads contacts by id into set; those not found are simply
// absent (the sessions listing them show them as unread).
func (rep *Replica) contactsByID(ctx context.Context, s *searcher, m *mapper, ids []string, set *contactSet) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return byID(ctx, s, "searching contacts", ids, rep.client.SearchContactsPage,
		func(page []intercom.Contact) { set.add(m.contacts(page)) })
}

// earliest is the earliest updated_at of the conversations of a range's
// first page, not before floor: where to start cutting the range into
// parts (records before it go to the first part). The first page is the
// oldest records when the API returns them in updated_at order, and a
// sample otherwise; either way the cuts go where the records are, not
// across an empty stretch.
func earliest(page []intercom.Conversation, floor int64) int64 {
	if len(page) == 0 {
		return floor
	}
	lo := page[0].UpdatedAt
	for i := range page {
		lo = min(lo, page[i].UpdatedAt)
	}
	return max(lo, floor)
}

// oldestDay is the earliest updated_at day among contacts (in loc), or ten
// years before today when there are none: where to start cutting an
// open-ended contact search into ranges.
func oldestDay(page []intercom.Contact, loc *time.Location, today int64) int64 {
	oldest := today - 3650
	if len(page) > 0 {
		oldest = today
		for i := range page {
			oldest = min(oldest, int64(engagement.DayOfUnix(page[i].UpdatedAt, loc)))
		}
	}
	return oldest
}

// samples are the store's conversation updated_at values and its searched
// contacts' updated_at days (in loc), sorted: where a full read cuts its
// searches so that the ranges are of about equal size.
func (s *store) samples(loc *time.Location) (convs, days []int64) {
	convs = make([]int64, 0, len(s.sessUpdated)+len(s.others))
	convs = append(convs, s.sessUpdated...)
	for _, u := range s.others {
		convs = append(convs, u)
	}
	slices.Sort(convs)
	for i := range s.contacts {
		if s.cmeta[i].Attr {
			days = append(days, int64(engagement.DayOfUnix(s.contacts[i].UpdatedAt, loc)))
		}
	}
	slices.Sort(days)
	return convs, days
}

// stampOf turns a time attribute into a Stamp in the organisation
// timezone: a date without a time is that day (its instant the start of
// the day there); an instant is itself, on its day there.
// registrationStamp reads a registration value by its attribute's Intercom
// type (docs/reports.md): a date-typed value given as an instant is a
// calendar date; integer and datetime values, and values of an unknown
// type, are instants.
func registrationStamp(v intercom.TimeValue, dataType string, loc *time.Location) engagement.Stamp {
	if dataType == "date" && !v.DateOnly && !v.Local {
		return engagement.DateAttributeStamp(v.Unix, loc)
	}
	return stampOf(v, loc)
}

func stampOf(v intercom.TimeValue, loc *time.Location) engagement.Stamp {
	if v.DateOnly {
		d := engagement.DateDay(v.Year, v.Month, v.Day)
		return engagement.Stamp{Unix: d.Start(loc).Unix(), Day: d}
	}
	// An instant, or a wall-clock date-time without an offset, placed in
	// the organisation timezone.
	t := v.In(loc)
	return engagement.Stamp{Unix: t.Unix(), Day: engagement.DayOf(t, loc)}
}
