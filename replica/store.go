package replica

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/state"
)

// store is the data the reports are built from, kept between refreshes so
// that a refresh reads only what changed (and saved in STATE_DIR). It holds
// what a full read would hold: the sessions (closed conversations on a
// session channel updated since the data window's start), the other closed
// conversations of the window (id and updated_at only, to notice
// deletions), and the contacts that carry a registration or last call
// value or are listed on a session.
//
// Only the refresh (one at a time) changes a store. Conversations are
// changed in place (Build keeps nothing of its input conversations);
// contacts are copied before a change once a published model points into
// them.
type store struct {
	// now is the "now" of the reports last built from the store, readAt
	// when the read that last brought it up to date started (the
	// incremental watermark), fullAt when the last full read started,
	// refreshEnd when the last successful refresh ended.
	now, readAt, fullAt, refreshEnd time.Time
	// slowAt is when the last slow (or full) read started: the contacts'
	// watermark (readAt is the conversations').
	slowAt time.Time
	// changes counts the records reads added, changed or removed since
	// the last successful refresh (Stats.Changed).
	changes int

	workspaceID, workspaceTZ string
	wsLoc                    *time.Location
	attrTypes                map[string]string
	attrTypesKnown           bool
	admins                   []engagement.Admin
	adminsKnown              bool

	contacts  []engagement.Contact
	cmeta     []state.ContactMeta
	contactAt map[string]int32
	// shared is set once a model points into contacts.
	shared bool

	sessions    []engagement.Conversation // contacts by index (ContactIdx)
	sessUpdated []int64
	// listedUnread are contacts added as Unread by sessions listing them,
	// since takeListedUnread last took them (a full read looks them up).
	listedUnread []string
	sessionAt    map[string]int32
	others       map[string]int64 // closed, not a session: id -> updated_at
	// otherCreated is the created_at of the others: the closed
	// conversations with a missing or unknown channel, which billing
	// cannot count (shown on the landing page).
	otherCreated map[string]int64
}

func newStore() *store {
	return &store{contactAt: map[string]int32{}, sessionAt: map[string]int32{}, others: map[string]int64{}, otherCreated: map[string]int64{}}
}

// data is the rules' input: contacts by index, sessions unique.
func (s *store) data() engagement.Data {
	s.shared = true
	return engagement.Data{
		Contacts: s.contacts, Conversations: s.sessions,
		Admins: s.admins, AdminsKnown: s.adminsKnown,
	}
}

// invalid counts, per time attribute (in order), the contacts read whose
// value of it is present but unreadable.
func (s *store) invalid(names []string) map[string]int {
	out := make(map[string]int, len(names))
	for _, n := range names {
		out[n] = 0
	}
	for i := range s.cmeta {
		if bits := s.cmeta[i].Invalid; bits != 0 && !s.contacts[i].Unread {
			for k, n := range names {
				if bits&(1<<k) != 0 {
					out[n]++
				}
			}
		}
	}
	return out
}

// ---- what a read brings ----

// convRec is a conversation as read, reduced to what the store keeps.
type convRec struct {
	id         string
	deleted    bool // not found in Intercom: leaves the store
	createdAt  int64
	updatedAt  int64
	kind       convKind
	channel    string // canonical spelling, for a session
	adminID    string
	contactIDs []string
}

type convKind uint8

const (
	convGone    convKind = iota // not closed: not a session, nor kept
	convOther                   // closed, not on a session channel
	convSession                 // closed, on a session channel
)

// convSet collects the conversations of a read; one read twice (">" may
// be ">=", pages shift while read) keeps its latest version.
type convSet struct {
	mu   sync.Mutex
	at   map[string]int32
	list []convRec
	read int
}

func newConvSet() *convSet { return &convSet{at: map[string]int32{}} }

func (cs *convSet) add(recs []convRec) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.read += len(recs)
	for _, r := range recs {
		if i, ok := cs.at[r.id]; ok {
			if r.updatedAt >= cs.list[i].updatedAt {
				cs.list[i] = r
			}
			continue
		}
		cs.at[r.id] = int32(len(cs.list))
		cs.list = append(cs.list, r)
	}
}

// contactRec is a contact as read, mapped.
type contactRec struct {
	c    engagement.Contact
	meta state.ContactMeta
}

// contactSet collects the contacts of a read; a contact met twice keeps
// its most recent version.
type contactSet struct {
	mu sync.Mutex
	m  map[string]contactRec
}

func newContactSet() *contactSet { return &contactSet{m: map[string]contactRec{}} }

func (cs *contactSet) add(recs []contactRec) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, r := range recs {
		if old, ok := cs.m[r.c.ID]; ok && old.c.UpdatedAt > r.c.UpdatedAt {
			continue
		}
		cs.m[r.c.ID] = r
	}
}

func (cs *contactSet) has(id string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	_, ok := cs.m[id]
	return ok
}

// ---- merging ----

// apply merges a read into the store: contacts read replace or join the
// store's, conversations read replace, join or leave it, conversations
// updated before the data window (keepFrom) leave it, and the contacts
// kept are exactly those a full read would read: with a registration or
// last call value, or listed on a kept session (contacts listed but not
// found are kept as Unread). notFound lists contacts searched by id and
// not found: deleted, so dropped (or kept as Unread when on a session).
// Of two versions of a record, the more recently updated one stands.
func (s *store) apply(convs []convRec, contacts map[string]contactRec, notFound []string, keepFrom int64) {
	s.ownContacts()
	s.applyContacts(contacts, notFound)
	s.applyConversations(convs, keepFrom)
	s.finish(keepFrom)
}

// applyContacts merges contacts read (see apply).
func (s *store) applyContacts(contacts map[string]contactRec, notFound []string) {
	// New contacts join in id order, so that the same reads give the same
	// store (and the same saved state).
	for _, id := range slices.SortedFunc(maps.Keys(contacts), engagement.CompareIDs) {
		r := contacts[id]
		if i, ok := s.contactAt[id]; ok {
			if old := &s.contacts[i]; old.Unread || old.UpdatedAt <= r.c.UpdatedAt {
				if old.Unread || old.UpdatedAt != r.c.UpdatedAt {
					s.changes++
				}
				s.contacts[i], s.cmeta[i] = r.c, r.meta
			}
			continue
		}
		s.changes++
		s.contactAt[id] = int32(len(s.contacts))
		s.contacts = append(s.contacts, r.c)
		s.cmeta = append(s.cmeta, r.meta)
	}
	for _, id := range notFound {
		if i, ok := s.contactAt[id]; ok {
			if !s.contacts[i].Unread {
				s.changes++
			}
			s.contacts[i], s.cmeta[i] = engagement.Contact{ID: id, Unread: true}, state.ContactMeta{}
		}
	}
}

// applyConversations merges conversations read (see apply). A contact a
// session lists that the store lacks is added as Unread, to be read by id.
func (s *store) applyConversations(convs []convRec, keepFrom int64) {
	for i := range convs {
		c := &convs[i]
		if !c.deleted && s.newer(c.id) > c.updatedAt {
			continue // an earlier version of what the store has
		}
		keep := !c.deleted && c.kind != convGone && c.updatedAt >= keepFrom
		_, isSession := s.sessionAt[c.id]
		_, isOther := s.others[c.id]
		if had := isSession || isOther; had != keep || (had && s.newer(c.id) != c.updatedAt) {
			s.changes++
		}
		if si, ok := s.sessionAt[c.id]; ok {
			if keep && c.kind == convSession {
				s.setSession(si, c)
				continue
			}
			s.removeSession(si)
		}
		switch {
		case keep && c.kind == convSession:
			s.dropOther(c.id)
			s.sessionAt[c.id] = int32(len(s.sessions))
			s.sessions = append(s.sessions, engagement.Conversation{})
			s.sessUpdated = append(s.sessUpdated, 0)
			s.setSession(int32(len(s.sessions)-1), c)
		case keep:
			s.others[c.id], s.otherCreated[c.id] = c.updatedAt, c.createdAt
		default:
			s.dropOther(c.id)
		}
	}
}

// newer is the updated_at the store has for a conversation, 0 if none.
func (s *store) newer(id string) int64 {
	if si, ok := s.sessionAt[id]; ok {
		return s.sessUpdated[si]
	}
	return s.others[id]
}

// finish drops what a full read would not have: conversations updated
// before keepFrom, and contacts neither searched for nor listed.
func (s *store) finish(keepFrom int64) {
	s.prune(keepFrom)
	s.include()
	s.listedUnread = nil
}

// takeListedUnread returns the contacts that sessions listed, unread, since
// the last call (some may have been read since).
func (s *store) takeListedUnread() []string {
	ids := s.listedUnread
	s.listedUnread = nil
	return ids
}

// ownContacts copies the contacts before a change when a published model
// points into them.
func (s *store) ownContacts() {
	if s.shared {
		s.contacts = slices.Clone(s.contacts)
		s.shared = false
	}
}

// setSession stores c as session si, listing its contacts by index; a
// contact not in the store is added as Unread (the read looked for every
// contact a session lists, so one still missing was not found).
func (s *store) setSession(si int32, c *convRec) {
	idx := make([]int32, 0, len(c.contactIDs))
	for _, id := range c.contactIDs {
		if id == "" {
			continue
		}
		k, ok := s.contactAt[id]
		if !ok {
			k = int32(len(s.contacts))
			s.contactAt[id] = k
			s.contacts = append(s.contacts, engagement.Contact{ID: id, Unread: true})
			s.cmeta = append(s.cmeta, state.ContactMeta{})
			s.listedUnread = append(s.listedUnread, id)
		}
		if !slices.Contains(idx, k) {
			idx = append(idx, k)
		}
	}
	s.sessions[si] = engagement.Conversation{
		ID: c.id, CreatedAt: c.createdAt, State: "closed", Channel: c.channel, AdminID: c.adminID, ContactIdx: idx,
	}
	s.sessUpdated[si] = c.updatedAt
}

// removeSession drops session si (the last one takes its place).
func (s *store) removeSession(si int32) {
	delete(s.sessionAt, s.sessions[si].ID)
	last := int32(len(s.sessions) - 1)
	if si != last {
		s.sessions[si], s.sessUpdated[si] = s.sessions[last], s.sessUpdated[last]
		s.sessionAt[s.sessions[si].ID] = si
	}
	s.sessions[last] = engagement.Conversation{}
	s.sessions, s.sessUpdated = s.sessions[:last], s.sessUpdated[:last]
}

// prune drops the conversations updated before keepFrom: outside the data
// window, as a full read would not read them.
func (s *store) prune(keepFrom int64) {
	for si := int32(0); si < int32(len(s.sessions)); {
		if s.sessUpdated[si] < keepFrom {
			s.removeSession(si)
			s.changes++
			continue
		}
		si++
	}
	n := len(s.others)
	maps.DeleteFunc(s.others, func(_ string, upd int64) bool { return upd < keepFrom })
	maps.DeleteFunc(s.otherCreated, func(id string, _ int64) bool { _, ok := s.others[id]; return !ok })
	s.changes += n - len(s.others)
}

func (s *store) dropOther(id string) {
	delete(s.others, id)
	delete(s.otherCreated, id)
}

// othersCreatedIn counts the closed conversations with a missing or
// unknown channel created in [from, to): calls that may be lost to
// billing when the window is a billing month's engaged window.
func (s *store) othersCreatedIn(from, to int64) int {
	n := 0
	for _, at := range s.otherCreated {
		if at >= from && at < to {
			n++
		}
	}
	return n
}

// include keeps the contacts with a registration or last call value and
// those listed on a session, and drops the others.
func (s *store) include() {
	listed := make([]bool, len(s.contacts))
	for i := range s.sessions {
		for _, k := range s.sessions[i].ContactIdx {
			listed[k] = true
		}
	}
	keep := func(i int) bool { return listed[i] || (s.cmeta[i].Attr && !s.contacts[i].Unread) }
	drop := 0
	for i := range s.contacts {
		if !keep(i) {
			drop++
		}
	}
	if drop == 0 {
		return
	}
	s.changes += drop
	s.ownContacts()
	newIdx := make([]int32, len(s.contacts))
	n := int32(0)
	for i := range s.contacts {
		if !keep(i) {
			delete(s.contactAt, s.contacts[i].ID)
			newIdx[i] = -1
			continue
		}
		newIdx[i] = n
		if int32(i) != n {
			s.contacts[n], s.cmeta[n] = s.contacts[i], s.cmeta[i]
			s.contactAt[s.contacts[n].ID] = n
		}
		n++
	}
	clear(s.contacts[n:])
	s.contacts, s.cmeta = s.contacts[:n], s.cmeta[:n]
	for i := range s.sessions {
		for j, k := range s.sessions[i].ContactIdx {
			s.sessions[i].ContactIdx[j] = newIdx[k]
		}
	}
}

// ---- state ----

// saved is the store as saved state.
func (s *store) saved(settings string) *state.Snapshot {
	snap := &state.Snapshot{
		// One watermark is saved: the earlier, so that a restart reads
		// again everything either kind of read may not have seen.
		Settings: settings, Now: s.now, ReadAt: earlier(s.readAt, s.slowAt), FullAt: s.fullAt, RefreshEnd: s.refreshEnd,
		WorkspaceID: s.workspaceID, WorkspaceTimezone: s.workspaceTZ,
		AttrTypesKnown: s.attrTypesKnown, AdminsKnown: s.adminsKnown, Admins: s.admins,
		Contacts: s.contacts, ContactMeta: s.cmeta, Sessions: s.sessions, SessionUpdated: s.sessUpdated,
	}
	for _, name := range slices.Sorted(maps.Keys(s.attrTypes)) {
		snap.AttrTypes = append(snap.AttrTypes, [2]string{name, s.attrTypes[name]})
	}
	snap.Others = make([]state.Other, 0, len(s.others))
	for id, upd := range s.others {
		snap.Others = append(snap.Others, state.Other{ID: id, UpdatedAt: upd, CreatedAt: s.otherCreated[id]})
	}
	slices.SortFunc(snap.Others, func(a, b state.Other) int { return engagement.CompareIDs(a.ID, b.ID) })
	return snap
}

// earlier is the earlier of two times (a zero one counts as not set).
func earlier(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

// errBadSnapshot is a saved snapshot that is not self-consistent.
var errBadSnapshot = errors.New("the saved data is not consistent")

// storeFrom rebuilds a store from saved state.
func storeFrom(snap *state.Snapshot) (*store, error) {
	s := &store{
		now: snap.Now, readAt: snap.ReadAt, fullAt: snap.FullAt, refreshEnd: snap.RefreshEnd,
		workspaceID: snap.WorkspaceID, workspaceTZ: snap.WorkspaceTimezone,
		attrTypesKnown: snap.AttrTypesKnown, adminsKnown: snap.AdminsKnown, admins: snap.Admins,
		contacts: snap.Contacts, cmeta: snap.ContactMeta, sessions: snap.Sessions, sessUpdated: snap.SessionUpdated,
		attrTypes: map[string]string{}, contactAt: make(map[string]int32, len(snap.Contacts)),
		sessionAt: make(map[string]int32, len(snap.Sessions)), others: make(map[string]int64, len(snap.Others)),
		otherCreated: make(map[string]int64, len(snap.Others)),
	}
	s.slowAt = s.readAt
	if loc, err := time.LoadLocation(snap.WorkspaceTimezone); err == nil {
		s.wsLoc = loc
	}
	for _, a := range snap.AttrTypes {
		s.attrTypes[a[0]] = a[1]
	}
	if len(s.cmeta) != len(s.contacts) || len(s.sessUpdated) != len(s.sessions) {
		return nil, errBadSnapshot
	}
	for i := range s.contacts {
		if _, dup := s.contactAt[s.contacts[i].ID]; dup {
			return nil, errBadSnapshot
		}
		s.contactAt[s.contacts[i].ID] = int32(i)
	}
	for i := range s.sessions {
		if _, dup := s.sessionAt[s.sessions[i].ID]; dup {
			return nil, errBadSnapshot
		}
		s.sessionAt[s.sessions[i].ID] = int32(i)
	}
	for _, o := range snap.Others {
		s.others[o.ID], s.otherCreated[o.ID] = o.UpdatedAt, o.CreatedAt
	}
	return s, nil
}

// ---- mapping Intercom's models ----

// mapper maps Intercom's models to the store's records for one refresh.
type mapper struct {
	set      *Settings
	channels engagement.Channels
	attrs    []searchAttr // the attributes a contact is read for
	wsLoc    *time.Location
	wsKnown  bool // wsLoc is the workspace's (else UTC, a guess)
	// dateFloor is the first instant the contact search's "> 0" matches
	// for a date attribute: the start of the day after 1970-01-01's in the
	// workspace timezone.
	dateFloor int64
	names     []string // time attributes whose unreadable values are counted
	loc       *time.Location
	types     map[string]string // contact attribute name -> Intercom data_type
}

// searchAttr is a contact attribute read for its value, with its type.
type searchAttr struct{ name, dataType string }

func (m *mapper) conversation(c *intercom.Conversation) convRec {
	r := convRec{id: c.ID, createdAt: c.CreatedAt, updatedAt: c.UpdatedAt, adminID: string(c.AdminAssigneeID)}
	if c.State != "closed" {
		return r
	}
	r.kind = convOther
	raw, _ := c.CustomAttributes.String(m.set.ChannelAttribute)
	if name, ok := m.channels.Canonical(raw); ok {
		r.kind, r.channel = convSession, name
		r.contactIDs = make([]string, 0, len(c.Contacts.Contacts))
		for _, ref := range c.Contacts.Contacts {
			r.contactIDs = append(r.contactIDs, ref.ID)
		}
	}
	return r
}

func (m *mapper) conversations(page []intercom.Conversation) []convRec {
	out := make([]convRec, len(page))
	for i := range page {
		out[i] = m.conversation(&page[i])
	}
	return out
}

func (m *mapper) contacts(page []intercom.Contact) []contactRec {
	out := make([]contactRec, 0, len(page))
	for i := range page {
		if page[i].ID != "" {
			out = append(out, m.contact(&page[i]))
		}
	}
	return out
}

// contact maps a contact to the rules' input, noting the present but
// unreadable values of the time attributes and whether it carries a value
// the contact searches look for.
func (m *mapper) contact(c *intercom.Contact) contactRec {
	cfg := m.set
	ec := engagement.Contact{
		ID:         c.ID,
		ExternalID: c.ExternalID,
		Name:       c.Name,
		Email:      c.Email,
		OwnerID:    string(c.OwnerID),
		UpdatedAt:  c.UpdatedAt,
	}
	ec.Employer, _ = c.CustomAttributes.String(cfg.EmployerAttribute)
	ec.StoredStatus, _ = c.CustomAttributes.String(cfg.StatusAttribute)
	var meta state.ContactMeta
	read := func(name string, registration bool) *engagement.Stamp {
		v, err := c.CustomAttributes.Time(name)
		switch {
		case errors.Is(err, intercom.ErrMissing):
			return nil
		case err != nil:
			if k := slices.Index(m.names, name); k >= 0 {
				meta.Invalid |= 1 << k
			}
			return nil
		}
		s := stampOf(v, m.loc)
		if registration {
			s = registrationStamp(v, m.types[name], m.loc)
		}
		return &s
	}
	// The first valid registration attribute counts; every present but
	// unreadable one is counted.
	for _, name := range cfg.RegistrationAttributes {
		if ec.RegistrationRaw == "" {
			ec.RegistrationRaw = presentValue(c.CustomAttributes[name])
		}
		if s := read(name, true); s != nil && ec.Registration == nil {
			ec.Registration = s
		}
	}
	if !slices.Contains(cfg.RegistrationAttributes, cfg.LastCallAttribute) {
		ec.StoredLastCall = read(cfg.LastCallAttribute, false)
	} else if v, err := c.CustomAttributes.Time(cfg.LastCallAttribute); err == nil {
		s := stampOf(v, m.loc)
		ec.StoredLastCall = &s
	}
	meta.Attr = m.searched(c)
	return contactRec{c: ec, meta: meta}
}

// presentValue is an attribute's JSON value when it is set (not missing,
// not null), else "".
func presentValue(raw json.RawMessage) string {
	if v := bytes.TrimSpace(raw); len(v) > 0 && string(v) != "null" {
		return string(v)
	}
	return ""
}

// searched says whether the attribute search of a full read finds the
// contact: the same test the search applies (see attributeQuery), so that
// a contact read because it changed is kept or dropped as a full read
// would keep or drop it.
func (m *mapper) searched(c *intercom.Contact) bool {
	for _, a := range m.attrs {
		switch a.dataType {
		case "date":
			if v, ok := intercom.SearchDate(c.CustomAttributes[a.name], m.wsLoc); ok && v >= m.dateFloor {
				return true
			}
		case "integer", "float":
			if v, ok := intercom.SearchNumber(c.CustomAttributes[a.name]); ok && v > 0 {
				return true
			}
		default:
			if s, ok := c.CustomAttributes.String(a.name); ok && s != "" {
				return true
			}
		}
	}
	return false
}
