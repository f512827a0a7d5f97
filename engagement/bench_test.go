package engagement

import (
	"math/rand"
	"strconv"
	"testing"
	"time"
)

// syntheticWorkspace is a large workspace: contacts contacts (60% enrolled,
// half with a stored call), sessions closed conversations over 400 days
// (every twentieth shared by two contacts) plus 5% non-sessions.
func syntheticWorkspace(contacts, sessions int, now time.Time, loc *time.Location) input {
	r := rand.New(rand.NewSource(1))
	d := input{AdminsKnown: true}
	for i := 0; i < 40; i++ {
		d.Admins = append(d.Admins, Admin{ID: strconv.Itoa(100 + i), Name: "Coach " + strconv.Itoa(i%35)})
	}
	d.Contacts = make([]Contact, contacts)
	for i := range d.Contacts {
		c := Contact{ID: strconv.Itoa(5_000_000 + i), Employer: "Employer " + strconv.Itoa(r.Intn(50)), UpdatedAt: now.Unix()}
		if r.Intn(3) == 0 {
			c.OwnerID = strconv.Itoa(100 + r.Intn(40))
		}
		if r.Intn(10) < 6 {
			day := DayOf(now, loc) - Day(r.Intn(700))
			c.Registration = &Stamp{Unix: day.Start(loc).Unix(), Day: day}
		}
		if r.Intn(2) == 0 {
			u := now.Unix() - r.Int63n(200*86400)
			c.StoredLastCall = &Stamp{Unix: u, Day: DayOfUnix(u, loc)}
			c.StoredStatus = StatusEngaged
		}
		d.Contacts[i] = c
	}
	channels := []string{"Phone", "Video Conference", "Email", "Chat", "phone ", "SMS"}
	n := sessions + sessions/20
	d.Conversations = make([]tconv, n)
	for i := range d.Conversations {
		c := tconv{
			ID:        strconv.Itoa(90_000_000 + i),
			CreatedAt: now.Unix() - r.Int63n(400*86400),
			State:     "closed",
			Channel:   channels[r.Intn(5)],
			AdminID:   strconv.Itoa(100 + r.Intn(40)),
		}
		if i >= sessions { // the extra 5%: not sessions
			if i%2 == 0 {
				c.State = "open"
			} else {
				c.Channel = "SMS"
			}
		}
		c.ContactIDs = []string{d.Contacts[r.Intn(contacts)].ID}
		if i%20 == 0 {
			c.ContactIDs = append(c.ContactIDs, d.Contacts[r.Intn(contacts)].ID)
		}
		d.Conversations[i] = c
	}
	return d
}

// BenchmarkBuildAndReports: 200,000 contacts and 1,000,000 sessions, as
// the replica hands them on (contacts by index, conversations unique); the
// target is at most 1 s per Build+Reports on 2 cores.
//
//	go test -run '^$' -bench BuildAndReports -benchmem ./engagement/
func BenchmarkBuildAndReports(b *testing.B) {
	loc := la
	now := at(loc, 2026, 3, 10, 12, 0)
	cfg := cfgIn(loc)
	data := resolve(syntheticWorkspace(200_000, 1_000_000, now, loc), cfg)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m := Build(data, cfg, now)
		r := m.Reports()
		if len(r.Caseload) == 0 {
			b.Fatal("empty caseload")
		}
	}
}
