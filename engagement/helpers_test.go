package engagement

import (
	"slices"
	"testing"
	"time"
)

// Test helpers shared by the rule tests. Expected values in the tests are
// worked out by hand from the documented rules (docs/reports.md), never taken from the code's output.

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var (
	utc     = time.UTC
	la      = mustLoc("America/Los_Angeles")
	kolkata = mustLoc("Asia/Kolkata")
	london  = mustLoc("Europe/London")
)

// at is a wall-clock time in loc.
func at(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, loc)
}

// cfgIn is the default configuration in the timezone loc.
func cfgIn(loc *time.Location) Config {
	c := DefaultConfig()
	c.Location = loc
	return c
}

// tconv is a conversation as a test writes it: its contacts by id.
type tconv struct {
	ID         string
	CreatedAt  int64
	State      string
	Channel    string
	AdminID    string
	ContactIDs []string
}

// input is the rules' input as a test writes it: conversations list
// their contacts by id, may repeat, and need not be sessions.
type input struct {
	Conversations []tconv
	Contacts      []Contact
	Admins        []Admin
	AdminsKnown   bool
}

// resolve turns in into Data as the replica hands it on: contacts unique
// by id (the first kept), only the sessions (closed, on a session
// channel), each once (the first read as a session), listing their
// contacts by index (each once); contacts listed but not read are added
// as Unread in the order the sessions first list them.
func resolve(in input, cfg Config) Data {
	ch := NewChannels(cfg)
	out := Data{Admins: in.Admins, AdminsKnown: in.AdminsKnown}
	idx := make(map[string]int32, len(in.Contacts))
	for _, c := range in.Contacts {
		if _, dup := idx[c.ID]; !dup {
			idx[c.ID] = int32(len(out.Contacts))
			out.Contacts = append(out.Contacts, c)
		}
	}
	out.Conversations = make([]Conversation, 0, len(in.Conversations))
	seen := make(map[string]bool, len(in.Conversations))
	for _, c := range in.Conversations {
		if c.State != "closed" || ch.Lookup(c.Channel) < 0 || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		rc := Conversation{ID: c.ID, CreatedAt: c.CreatedAt, State: c.State, Channel: c.Channel, AdminID: c.AdminID}
		for _, id := range c.ContactIDs {
			if id == "" {
				continue
			}
			i, ok := idx[id]
			if !ok {
				i = int32(len(out.Contacts))
				idx[id] = i
				out.Contacts = append(out.Contacts, Contact{ID: id, Unread: true})
			}
			if !slices.Contains(rc.ContactIdx, i) {
				rc.ContactIdx = append(rc.ContactIdx, i)
			}
		}
		out.Conversations = append(out.Conversations, rc)
	}
	return out
}

// build is Build of in, resolved.
func build(in input, cfg Config, now time.Time) *Model { return Build(resolve(in, cfg), cfg, now) }

// call is a closed Phone conversation at t for the contacts.
func call(id string, t time.Time, contacts ...string) tconv {
	return session(id, t, "Phone", contacts...)
}

// session is a closed conversation on channel at t for the contacts.
func session(id string, t time.Time, channel string, contacts ...string) tconv {
	return tconv{ID: id, CreatedAt: t.Unix(), State: "closed", Channel: channel, ContactIDs: contacts}
}

// dateStamp is an ISO date-only attribute value (docs/reports.md: that
// calendar day), as the collector maps it: the start of the day in loc.
func dateStamp(loc *time.Location, y int, mo time.Month, d int) *Stamp {
	day := DateDay(y, mo, d)
	return &Stamp{Unix: day.Start(loc).Unix(), Day: day}
}

// instant is a date-time attribute value: its instant and its day in loc.
func instant(t time.Time, loc *time.Location) *Stamp {
	return &Stamp{Unix: t.Unix(), Day: DayOf(t, loc)}
}

// enrolledContact is a contact registered on the given day (date-only).
func enrolledContact(id string, loc *time.Location, y int, mo time.Month, d int) Contact {
	return Contact{ID: id, Registration: dateStamp(loc, y, mo, d)}
}

// mustMember returns the member of a contact id or fails the test.
func mustMember(t *testing.T, m *Model, id string) *Member {
	t.Helper()
	mem, ok := m.Member(id)
	if !ok {
		t.Fatalf("contact %q is not a member of the model", id)
	}
	return mem
}

// caseloadRow returns the caseload row of a contact, nil when it has none.
func caseloadRow(m *Model, id string) *CaseloadRow {
	for _, r := range m.Caseload(0) {
		if r.Member.Contact.ID == id {
			r := r
			return &r
		}
	}
	return nil
}

// participantRow returns the participant row of a contact, nil when none.
func participantRow(m *Model, id string) *ParticipantRow {
	for _, r := range m.Participants() {
		if r.Member.Contact.ID == id {
			r := r
			return &r
		}
	}
	return nil
}

// billingRow returns the billing row of a contact, nil when not in the cohort.
func billingRow(rows []BillingRow, id string) *BillingRow {
	for i := range rows {
		if rows[i].Member.Contact.ID == id {
			return &rows[i]
		}
	}
	return nil
}

// bands4 sums a report family over its groups, per fixed-label index.
func bands4[K comparable](m map[K][4]int) [4]int {
	var out [4]int
	for _, v := range m {
		for i, n := range v {
			out[i] += n
		}
	}
	return out
}

// bands3 is bands4 for the three billing reasons.
func bands3[K comparable](m map[K][3]int) [3]int {
	var out [3]int
	for _, v := range m {
		for i, n := range v {
			out[i] += n
		}
	}
	return out
}

func sum[A [4]int | [3]int](a A) int {
	n := 0
	for i := 0; i < len(a); i++ {
		n += a[i]
	}
	return n
}

func convID(s *Session) string {
	if s == nil {
		return ""
	}
	return s.ConversationID
}
