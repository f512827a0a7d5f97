package engagement

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Stamp is a valid time attribute: its instant (UNIX seconds; for a date
// without a time, the start of that day in the organisation timezone) and
// its calendar day in the organisation timezone.
type Stamp struct {
	Unix int64
	Day  Day
}

// Conversation is an Intercom conversation as the rules need it.
type Conversation struct {
	ID        string
	CreatedAt int64  // UNIX seconds: the session time
	State     string // "closed" makes it a candidate session
	Channel   string // raw value of the channel attribute, "" when missing
	AdminID   string // admin_assignee_id, "" when unassigned
	// ContactIdx lists the conversation's contacts by index into
	// Data.Contacts, each at most once, in the order Intercom lists them.
	ContactIdx []int32
}

// Contact is an Intercom contact as the rules need it.
type Contact struct {
	ID         string
	ExternalID string
	Name       string
	Email      string
	OwnerID    string // "" when none
	Employer   string // raw value of the employer attribute
	// Registration is the first valid value among the registration
	// attributes (docs/reports.md); nil when the contact is not enrolled.
	Registration *Stamp
	// RegistrationRaw is the JSON value of the first registration
	// attribute present (not null), as Intercom holds it; "" when none is.
	// With no valid Registration, it tells an unreadable value from a
	// missing one (billing exceptions).
	RegistrationRaw string
	// StoredLastCall is the valid stored Last Coaching Call, nil when it is
	// missing or unreadable.
	StoredLastCall *Stamp
	StoredStatus   string // stored Engagement Status, "" when unset
	UpdatedAt      int64
	// Unread marks a contact listed on a conversation but not found when
	// read (deleted since, say): only its ID is known. Data includes such
	// contacts this way.
	Unread bool
}

// Admin is a teammate who can be a coach.
type Admin struct {
	ID   string
	Name string
}

// Data is one consistent read of Intercom, as the replica hands it on:
// contact ids are unique, conversation ids are unique, and every
// conversation lists its contacts in ContactIdx (indexes into Contacts),
// with contacts that were listed but not found included as Unread. At a
// million conversations, resolving ids with maps would be most of Build's
// time: the replica keeps its records by index anyway.
type Data struct {
	Conversations []Conversation
	Contacts      []Contact
	Admins        []Admin
	// AdminsKnown is false when admins could not be read: coaches are then
	// shown by id.
	AdminsKnown bool
}

// Session is a coaching session (docs/reports.md).
type Session struct {
	ConversationID string
	CreatedAt      int64
	Day            Day
	coach          int32 // index into Model.coaches (Coach interned)
	Channel        int   // index into the session channels
	Coach          string
	Contacts       []int32 // indexes into Model.Members
}

// Member is one contact with everything the reports derive for it.
type Member struct {
	Contact  *Contact
	Coach    string // member's coach (docs/reports.md)
	Employer string // trimmed, or "unknown"
	Enrolled bool
	// Unread is true for a contact listed on a conversation but not among
	// the contacts read: its stored attributes are unknown.
	Unread bool

	// Sessions of this member, indexes into Model.Sessions.
	Sessions []int32
	// LastSession is the most recent session (any time read), -1 if none.
	LastSession int32
	// LastSessionInLookback is the most recent session within the lookback,
	// -1 if none.
	LastSessionInLookback int32
	// ChannelSet is the set of channels of its sessions in the lookback.
	ChannelSet uint32

	// LastCall is the later of the newest call read and the usable stored
	// value; HasLastCall is false when there is neither.
	LastCall    Stamp
	HasLastCall bool
	// Status is the engagement status, "" when the contact has none.
	Status string

	coach, employer int32 // indexes into Model.coaches and Model.employers
}

// Model is the immutable result of applying the rules to one Data at one
// "now". Every report and CSV reads from it; nothing in it changes after
// Build returns, so it can be shared between goroutines.
type Model struct {
	Config   Config
	Channels Channels
	Now      time.Time
	Today    Day

	Sessions []Session
	Members  []Member

	// coaches and employers are the distinct labels, interned: members and
	// sessions refer to them by index, so reports key their maps by small
	// integers instead of strings.
	coaches   []string
	employers []string
	// sessionEmployer is the employer index of each session: that of its
	// first listed contact, "unknown" when none is listed (docs/reports.md).
	sessionEmployer []int32

	byIDOnce sync.Once
	byID     map[string]int32
}

// Member returns the member for a contact id. The index behind it is built
// on first use (the reports and CSV files never need it).
func (m *Model) Member(id string) (*Member, bool) {
	m.byIDOnce.Do(func() {
		if m.byID != nil {
			return
		}
		m.byID = make(map[string]int32, len(m.Members))
		for i := range m.Members {
			if _, dup := m.byID[m.Members[i].Contact.ID]; !dup {
				m.byID[m.Members[i].Contact.ID] = int32(i)
			}
		}
	})
	i, ok := m.byID[id]
	if !ok {
		return nil, false
	}
	return &m.Members[i], true
}

// DataStart is the first day of the data window: sessions before it are
// outside the lookback.
func (m *Model) DataStart() Day { return m.Today - Day(m.Config.LookbackDays) }

// InLookback reports whether a session's day is within the lookback.
func (m *Model) InLookback(s *Session) bool {
	return DaysSince(s.Day, m.Today) <= m.Config.LookbackDays
}

// Build applies the rules of docs/reports.md to data at now.
func Build(data Data, cfg Config, now time.Time) *Model {
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	cfg.Location = loc
	m := &Model{
		Config:   cfg,
		Channels: NewChannels(cfg),
		Now:      now,
		Today:    DayOf(now, loc),
	}
	coachOf := CoachNamer(data.Admins, data.AdminsKnown)
	coaches := newInterner()
	// Session days: a table of day starts around the data window turns an
	// instant into its day without a timezone lookup per session.
	days := newDayTable(loc, m.Today-Day(cfg.LookbackDays)-400, m.Today+2)

	m.Members = make([]Member, 0, len(data.Contacts))
	for i := range data.Contacts {
		c := &data.Contacts[i]
		m.Members = append(m.Members, Member{Contact: c, Enrolled: c.Registration != nil && !c.Unread, Unread: c.Unread})
	}

	// Sessions, with one backing array for all their contacts, sized up
	// front: at 10^6 sessions, growing slices and small maps per
	// conversation dominated Build's time and garbage.
	nIDs := 0
	for i := range data.Conversations {
		nIDs += len(data.Conversations[i].ContactIdx)
	}
	contactBuf := make([]int32, 0, nIDs)
	m.Sessions = make([]Session, 0, len(data.Conversations))
	nContacts := int32(len(m.Members))
	lastAdmin, lastCoach := "\x00", int32(-1)
	for i := range data.Conversations {
		c := &data.Conversations[i]
		ch := -1
		if c.State == "closed" {
			ch = m.Channels.Lookup(c.Channel)
		}
		if ch < 0 {
			continue
		}
		// Conversations of one coach often come together: skip the lookups
		// when the admin is the previous one's.
		if c.AdminID != lastAdmin {
			lastAdmin, lastCoach = c.AdminID, coaches.index(coachOf(c.AdminID))
		}
		s := Session{
			ConversationID: c.ID,
			CreatedAt:      c.CreatedAt,
			Day:            days.day(c.CreatedAt),
			coach:          lastCoach,
			Channel:        ch,
			Coach:          coaches.names[lastCoach],
		}
		start := len(contactBuf)
		for _, mi := range c.ContactIdx {
			if mi >= 0 && mi < nContacts {
				contactBuf = append(contactBuf, mi)
			}
		}
		if n := len(contactBuf); n > start {
			s.Contacts = contactBuf[start:n:n]
		}
		m.Sessions = append(m.Sessions, s)
	}

	// Employers are known from the contacts alone: intern them first.
	nM := len(m.Members)
	employers := newInterner()
	memberEmp := make([]int32, nM)
	lastRaw, lastEmp := "\x00", int32(-1)
	for i := range m.Members {
		mem := &m.Members[i]
		if raw := mem.Contact.Employer; raw != lastRaw {
			lastRaw, lastEmp = raw, employers.index(EmployerName(raw))
		}
		mem.employer, memberEmp[i] = lastEmp, lastEmp
		// One string per employer: equal strings that share memory compare
		// without reading scattered bytes.
		mem.Employer = employers.names[lastEmp]
	}

	// One pass over the sessions, keeping each member's bookkeeping in
	// small arrays (a few MB, cache friendly) rather than in the Member
	// and Session structs (tens of MB, touched at random).
	perMember := make([]int32, nM+1)
	for si := range m.Sessions {
		for _, mi := range m.Sessions[si].Contacts {
			perMember[mi+1]++
		}
	}
	for i := 1; i <= nM; i++ {
		perMember[i] += perMember[i-1] // perMember[i]: where member i's sessions start
	}
	memberBuf := make([]int32, len(contactBuf))
	fill := slices.Clone(perMember[:nM])
	last := newLatest(nM)   // latest session
	lastIn := newLatest(nM) // latest session in the lookback
	lastCall := newLatest(nM)
	channelSet := make([]uint32, nM)
	m.sessionEmployer = make([]int32, len(m.Sessions))
	oldest := m.DataStart()
	noContact := int32(-1) // employer index of a session listing no contact
	for si := range m.Sessions {
		s := &m.Sessions[si]
		in := s.Day >= oldest
		call := m.Channels.IsCall(s.Channel)
		if len(s.Contacts) == 0 {
			if noContact < 0 {
				noContact = employers.index(UnknownEmployer)
			}
			m.sessionEmployer[si] = noContact
		} else {
			m.sessionEmployer[si] = memberEmp[s.Contacts[0]]
		}
		for _, mi := range s.Contacts {
			memberBuf[fill[mi]] = int32(si)
			fill[mi]++
			last.offer(m, mi, si)
			if in {
				channelSet[mi] |= 1 << uint(s.Channel)
				lastIn.offer(m, mi, si)
			}
			if call {
				lastCall.offer(m, mi, si)
			}
		}
	}

	// A stored call up to a day ahead is accepted (clock skew, timezones);
	// further ahead it is a mistake and must not keep a contact Engaged.
	storedLimit := now.Unix() + 86400
	lastOwner, lastOwnerCoach := "\x00", int32(-1)
	for i := range m.Members {
		mem := &m.Members[i]
		c := mem.Contact
		if a, b := perMember[i], perMember[i+1]; b > a {
			mem.Sessions = memberBuf[a:b:b]
		}
		mem.LastSession, mem.LastSessionInLookback = last.idx[i], lastIn.idx[i]
		mem.ChannelSet = channelSet[i]
		mem.coach = -1
		// An owner_id of "" or "0" is no owner (as for admin_assignee_id):
		// fall back to the last session's coach rather than "unassigned".
		if owner := strings.TrimSpace(c.OwnerID); cfg.MemberCoach == MemberCoachOwner && owner != "" && owner != "0" {
			if owner != lastOwner {
				lastOwner, lastOwnerCoach = owner, coaches.index(coachOf(owner))
			}
			mem.coach = lastOwnerCoach
		} else if mem.LastSession >= 0 {
			mem.coach = m.Sessions[mem.LastSession].coach
		}
		if mem.coach < 0 {
			mem.coach = coaches.index(Unassigned)
		}
		mem.Coach = coaches.names[mem.coach]
		if lc := lastCall.idx[i]; lc >= 0 {
			s := &m.Sessions[lc]
			mem.LastCall, mem.HasLastCall = Stamp{Unix: s.CreatedAt, Day: s.Day}, true
		}
		if st := c.StoredLastCall; st != nil && st.Unix <= storedLimit {
			if !mem.HasLastCall || st.Unix > mem.LastCall.Unix {
				mem.LastCall, mem.HasLastCall = *st, true
			}
		}
		switch {
		case mem.HasLastCall:
			mem.Status = StatusFor(DaysSince(mem.LastCall.Day, m.Today), cfg)
		case mem.Enrolled:
			mem.Status = StatusNoCall
		}
	}
	m.coaches, m.employers = coaches.names, employers.names
	return m
}

// latest tracks each member's most recent session of some kind: its index
// and time side by side, so comparing rarely reads a Session.
type latest struct {
	idx []int32
	at  []int64
}

func newLatest(n int) latest {
	l := latest{idx: make([]int32, n), at: make([]int64, n)}
	for i := range l.idx {
		l.idx[i] = -1
	}
	return l
}

// offer makes session si member mi's latest if it is more recent.
func (l latest) offer(m *Model, mi int32, si int) {
	cur := l.idx[mi]
	s := &m.Sessions[si]
	if cur < 0 || s.CreatedAt > l.at[mi] || (s.CreatedAt == l.at[mi] && m.later(s, &m.Sessions[cur])) {
		l.idx[mi], l.at[mi] = int32(si), s.CreatedAt
	}
}

// interner hands out one small index per distinct string.
type interner struct {
	idx   map[string]int32
	names []string
}

func newInterner() *interner { return &interner{idx: map[string]int32{}} }

func (t *interner) index(s string) int32 {
	if i, ok := t.idx[s]; ok {
		return i
	}
	i := int32(len(t.names))
	t.idx[s] = i
	t.names = append(t.names, s)
	return i
}

// dayTable turns UNIX seconds into days in one timezone by a table of day
// starts over a range of days (time zone lookups cost more than the rest
// of a session's bookkeeping); outside the range it asks the timezone.
type dayTable struct {
	loc    *time.Location
	first  Day
	starts []int64 // starts[i] is the first instant of day first+i; one more than the days
}

func newDayTable(loc *time.Location, from, to Day) *dayTable {
	t := &dayTable{loc: loc, first: from, starts: make([]int64, 0, int(to-from)+2)}
	for d := from; d <= to+1; d++ {
		t.starts = append(t.starts, d.Start(loc).Unix())
	}
	return t
}

func (t *dayTable) day(u int64) Day {
	n := len(t.starts) - 1
	if n < 1 || u < t.starts[0] || u >= t.starts[n] {
		return DayOfUnix(u, t.loc)
	}
	// Days are 86400 seconds but for DST changes (23 or 25 hours): the
	// guess is at most a step or two away.
	i := min(int((u-t.starts[0])/86400), n-1)
	for t.starts[i] > u {
		i--
	}
	for t.starts[i+1] <= u {
		i++
	}
	return t.first + Day(i)
}

// StatusFor is the engagement status for d days since the last call.
func StatusFor(d int, cfg Config) string {
	switch {
	case d <= cfg.EngagedDays:
		return StatusEngaged
	case d <= cfg.AtRiskDays:
		return StatusAtRisk
	default:
		return StatusUnengaged
	}
}

// later reports whether session a is more recent than b: a later session
// time, ties broken by the larger conversation id compared as numbers.
func (m *Model) later(a, b *Session) bool {
	if a.CreatedAt != b.CreatedAt {
		return a.CreatedAt > b.CreatedAt
	}
	return CompareIDs(a.ConversationID, b.ConversationID) > 0
}

// CompareIDs compares Intercom ids as numbers when both are decimal
// integers (so "10" > "9"), else as text.
func CompareIDs(a, b string) int {
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// EmployerName is the member's employer label: trimmed, "unknown" when empty.
func EmployerName(raw string) string {
	if s := strings.TrimSpace(raw); s != "" {
		return s
	}
	return UnknownEmployer
}

// CoachNamer returns the rule that turns an admin id into a coach label
// (docs/reports.md): "unassigned" for none, the admin's name, "Name (id)"
// when two admins share a name, the id when the admin is unknown or admins
// could not be read.
func CoachNamer(admins []Admin, known bool) func(id string) string {
	names := make(map[string]string, len(admins))
	if known {
		// Count distinct admins per name: the same admin read twice (pages
		// shifting during a read) is not two admins sharing a name.
		count := make(map[string]int, len(admins))
		counted := make(map[string]bool, len(admins))
		for _, a := range admins {
			if n := strings.TrimSpace(a.Name); n != "" && !counted[a.ID] {
				counted[a.ID] = true
				count[n]++
			}
		}
		for _, a := range admins {
			n := strings.TrimSpace(a.Name)
			switch {
			case n == "":
				names[a.ID] = a.ID
			case count[n] > 1:
				names[a.ID] = n + " (" + a.ID + ")"
			default:
				names[a.ID] = n
			}
		}
	}
	return func(id string) string {
		id = strings.TrimSpace(id)
		if id == "" || id == "0" {
			return Unassigned
		}
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
}
