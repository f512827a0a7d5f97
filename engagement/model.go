package engagement

import (
	"slices"
	"strings"
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
	ID         string
	CreatedAt  int64  // UNIX seconds: the session time
	State      string // "closed" makes it a candidate session
	Channel    string // raw value of the channel attribute, "" when missing
	AdminID    string // admin_assignee_id, "" when unassigned
	ContactIDs []string
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
	// attributes (SPEC.md section 1); nil when the contact is not enrolled.
	Registration *Stamp
	// StoredLastCall is the valid stored Last Coaching Call, nil when it is
	// missing or unreadable.
	StoredLastCall *Stamp
	StoredStatus   string // stored Engagement Status, "" when unset
	UpdatedAt      int64
}

// Admin is a teammate who can be a coach.
type Admin struct {
	ID   string
	Name string
}

// Data is one consistent read of Intercom.
type Data struct {
	Conversations []Conversation
	Contacts      []Contact
	Admins        []Admin
	// AdminsKnown is false when admins could not be read: coaches are then
	// shown by id.
	AdminsKnown bool
}

// Session is a coaching session (SPEC.md section 1).
type Session struct {
	ConversationID string
	CreatedAt      int64
	Day            Day
	Channel        int // index into the session channels
	Coach          string
	Contacts       []int32 // indexes into Model.Members
}

// Member is one contact with everything the reports derive for it.
type Member struct {
	Contact  *Contact
	Coach    string // member's coach (SPEC.md section 1)
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
	byID     map[string]int32
}

// Member returns the member for a contact id.
func (m *Model) Member(id string) (*Member, bool) {
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

// Build applies the rules of SPEC.md sections 1 and 2.4 to data at now.
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
		byID:     make(map[string]int32, len(data.Contacts)),
	}
	coachOf := CoachNamer(data.Admins, data.AdminsKnown)

	m.Members = make([]Member, 0, len(data.Contacts))
	for i := range data.Contacts {
		c := &data.Contacts[i]
		if _, dup := m.byID[c.ID]; dup {
			continue
		}
		m.byID[c.ID] = int32(len(m.Members))
		m.Members = append(m.Members, Member{Contact: c, Enrolled: c.Registration != nil})
	}
	memberIdx := func(id string) int32 {
		if i, ok := m.byID[id]; ok {
			return i
		}
		// A contact listed on a session but not read (deleted since, say)
		// still counts as a member, with what the session tells.
		i := int32(len(m.Members))
		m.byID[id] = i
		m.Members = append(m.Members, Member{Contact: &Contact{ID: id}, Unread: true})
		return i
	}

	// One backing array for every session's contacts, and the sessions
	// sized up front: at 10^6 sessions, growing slices and a small map per
	// conversation dominated Build's time and garbage.
	nIDs := 0
	for i := range data.Conversations {
		nIDs += len(data.Conversations[i].ContactIDs)
	}
	contactBuf := make([]int32, 0, nIDs)
	m.Sessions = make([]Session, 0, len(data.Conversations))
	seenConv := make(map[string]struct{}, len(data.Conversations))
	for i := range data.Conversations {
		c := &data.Conversations[i]
		if c.State != "closed" {
			continue
		}
		ch := m.Channels.Lookup(c.Channel)
		if ch < 0 {
			continue
		}
		if _, dup := seenConv[c.ID]; dup {
			continue
		}
		seenConv[c.ID] = struct{}{}
		s := Session{
			ConversationID: c.ID,
			CreatedAt:      c.CreatedAt,
			Day:            DayOfUnix(c.CreatedAt, loc),
			Channel:        ch,
			Coach:          coachOf(c.AdminID),
		}
		start := len(contactBuf)
		for _, id := range c.ContactIDs {
			if id == "" {
				continue
			}
			// A contact listed twice counts once (a handful per conversation:
			// a linear scan is cheaper than a map).
			if mi := memberIdx(id); !slices.Contains(contactBuf[start:], mi) {
				contactBuf = append(contactBuf, mi)
			}
		}
		if n := len(contactBuf); n > start {
			s.Contacts = contactBuf[start:n:n]
		}
		m.Sessions = append(m.Sessions, s)
	}

	// Each member's session list is carved out of one array, sized by a
	// first count, so the appends below never reallocate.
	perMember := make([]int32, len(m.Members))
	for si := range m.Sessions {
		for _, mi := range m.Sessions[si].Contacts {
			perMember[mi]++
		}
	}
	memberBuf := make([]int32, len(contactBuf))
	off := 0
	for i, n := range perMember {
		if n > 0 {
			m.Members[i].Sessions = memberBuf[off : off : off+int(n)]
			off += int(n)
		}
	}

	for i := range m.Members {
		m.Members[i].LastSession, m.Members[i].LastSessionInLookback = -1, -1
	}
	lastCall := make([]int32, len(m.Members))
	for i := range lastCall {
		lastCall[i] = -1
	}
	for si := range m.Sessions {
		s := &m.Sessions[si]
		in := m.InLookback(s)
		call := m.Channels.IsCall(s.Channel)
		for _, mi := range s.Contacts {
			mem := &m.Members[mi]
			mem.Sessions = append(mem.Sessions, int32(si))
			if mem.LastSession < 0 || m.later(s, &m.Sessions[mem.LastSession]) {
				mem.LastSession = int32(si)
			}
			if in {
				mem.ChannelSet |= 1 << uint(s.Channel)
				if mem.LastSessionInLookback < 0 || m.later(s, &m.Sessions[mem.LastSessionInLookback]) {
					mem.LastSessionInLookback = int32(si)
				}
			}
			if call && (lastCall[mi] < 0 || m.later(s, &m.Sessions[lastCall[mi]])) {
				lastCall[mi] = int32(si)
			}
		}
	}

	// A stored call up to a day ahead is accepted (clock skew, timezones);
	// further ahead it is a mistake and must not keep a contact Engaged.
	storedLimit := now.Unix() + 86400
	employers := make(map[string]string)
	for i := range m.Members {
		mem := &m.Members[i]
		c := mem.Contact
		mem.Employer = EmployerName(c.Employer)
		// One string per employer: every report keys maps by it, and equal
		// strings that share memory compare without reading scattered bytes.
		if e, ok := employers[mem.Employer]; ok {
			mem.Employer = e
		} else {
			employers[mem.Employer] = mem.Employer
		}
		mem.Coach = Unassigned
		// An owner_id of "" or "0" is no owner (as for admin_assignee_id):
		// fall back to the last session's coach rather than "unassigned".
		if owner := strings.TrimSpace(c.OwnerID); cfg.MemberCoach == MemberCoachOwner && owner != "" && owner != "0" {
			mem.Coach = coachOf(owner)
		} else if mem.LastSession >= 0 {
			mem.Coach = m.Sessions[mem.LastSession].Coach
		}
		if lc := lastCall[i]; lc >= 0 {
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
	return m
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
// (SPEC.md section 1): "unassigned" for none, the admin's name, "Name (id)"
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
