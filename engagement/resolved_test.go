package engagement

import (
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// The collector resolves contacts by index and de-duplicates conversations
// itself (Data.Resolved). Both forms of the same data must give the same
// model: the same members (in order), the same sessions and the same reports.
func TestBuild_ResolvedInputGivesTheSameModelAsIDs(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		data, cfg, now := randomWorld(r)
		byID := Build(data, cfg, now)
		res := Build(resolve(data, cfg), cfg, now)

		if len(byID.Members) != len(res.Members) || len(byID.Sessions) != len(res.Sessions) {
			t.Fatalf("seed %d: %d members %d sessions by id, %d and %d resolved", seed,
				len(byID.Members), len(byID.Sessions), len(res.Members), len(res.Sessions))
		}
		for i := range byID.Members {
			a, b := byID.Members[i], res.Members[i]
			if a.Contact.ID != b.Contact.ID || a.Coach != b.Coach || a.Employer != b.Employer ||
				a.Enrolled != b.Enrolled || a.Unread != b.Unread || a.Status != b.Status ||
				a.LastSession != b.LastSession || a.LastSessionInLookback != b.LastSessionInLookback ||
				a.ChannelSet != b.ChannelSet || a.LastCall != b.LastCall || !reflect.DeepEqual(a.Sessions, b.Sessions) {
				t.Fatalf("seed %d: member %d differs:\n by id    %+v\n resolved %+v", seed, i, a, b)
			}
		}
		for i := range byID.Sessions {
			a, b := byID.Sessions[i], res.Sessions[i]
			if a.ConversationID != b.ConversationID || a.Day != b.Day || a.Coach != b.Coach ||
				a.Channel != b.Channel || !reflect.DeepEqual(a.Contacts, b.Contacts) {
				t.Fatalf("seed %d: session %d differs: %+v vs %+v", seed, i, a, b)
			}
		}
		if a, b := byID.Reports(), res.Reports(); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: reports differ:\n by id    %+v\n resolved %+v", seed, a, b)
		}
	}
}

// A conversation read twice counts once, the first time it is read as a
// session; a repeat that is not a session does not hide the session.
func TestBuild_RepeatedConversationCountsOnceWhateverTheInputForm(t *testing.T) {
	now := at(utc, 2026, 3, 10, 12, 0)
	d := Data{
		Contacts: []Contact{{ID: "a"}, {ID: "b"}},
		Conversations: []Conversation{
			{ID: "7", CreatedAt: now.Add(-time.Hour).Unix(), State: "open", Channel: "Phone", ContactIDs: []string{"a"}},
			call("7", now.Add(-2*time.Hour), "b"),
			call("7", now.Add(-3*time.Hour), "a"),
			call("8", now.Add(-4*time.Hour), "a", "a", "b"),
		},
	}
	m := Build(d, cfgIn(utc), now)
	if len(m.Sessions) != 2 {
		t.Fatalf("%d sessions, want 2 (7 once, 8)", len(m.Sessions))
	}
	s7 := m.Sessions[0]
	if s7.ConversationID != "7" || s7.CreatedAt != now.Add(-2*time.Hour).Unix() || len(s7.Contacts) != 1 ||
		m.Members[s7.Contacts[0]].Contact.ID != "b" {
		t.Errorf("session 7 is %+v, want the first closed one (2 hours ago, contact b)", s7)
	}
	if n := len(m.Sessions[1].Contacts); n != 2 {
		t.Errorf("session 8 lists %d contacts, want 2 (a listed twice counts once)", n)
	}
}

// The day table gives the same day as the timezone for every instant, DST
// changes included (a 23-hour and a 25-hour day in Los Angeles and London,
// none in Kolkata; Santiago skips midnight).
func TestDayTable_AgreesWithTheTimezone(t *testing.T) {
	for _, loc := range []*time.Location{utc, la, london, kolkata, mustLoc("America/Santiago"), mustLoc("Pacific/Chatham")} {
		today := DayOf(at(loc, 2026, 3, 10, 12, 0), loc)
		tab := newDayTable(loc, today-800, today+2)
		r := rand.New(rand.NewSource(1))
		start, end := (today - 810).Start(loc).Unix(), (today + 10).Start(loc).Unix()
		check := func(u int64) {
			if got, want := tab.day(u), DayOfUnix(u, loc); got != want {
				t.Fatalf("%s: day of %d (%s) is %s, want %s", loc, u, time.Unix(u, 0).In(loc), got, want)
			}
		}
		for range 200_000 {
			check(start + r.Int63n(end-start))
		}
		// Every day start and the second before it.
		for d := today - 805; d <= today+5; d++ {
			s := d.Start(loc).Unix()
			check(s)
			check(s - 1)
		}
	}
}

// BillingRecords are the billing rows flattened: every column of the CSV,
// worked out by hand. Month 2026-02 in UTC; engaged window 2025-12-07 to
// 2026-02-28.
func TestBillingRecords_CarryEveryColumn(t *testing.T) {
	now := at(utc, 2026, 3, 10, 12, 0)
	n := Contact{ID: "n", Name: "New Person", Email: "n@example.com", Employer: " Acme ", ExternalID: "X1",
		Registration: dateStamp(utc, 2026, 2, 3)}
	e := Contact{ID: "e", Name: "Engaged Person", Email: "e@example.com", Registration: dateStamp(utc, 2025, 6, 1)}
	d := Data{
		Contacts: []Contact{n, e},
		Conversations: []Conversation{
			call("100", at(utc, 2026, 1, 20, 9, 0), "e"),
			call("101", at(utc, 2026, 3, 2, 9, 0), "e"), // after the month: neither last call nor qualifying
			session("102", at(utc, 2026, 2, 25, 9, 0), "Email", "e"),
		},
	}
	recs, err := Build(d, cfgIn(utc), now).BillingRecords(Month{2026, time.February})
	if err != nil {
		t.Fatal(err)
	}
	want := []BillingRecord{
		{ContactID: "n", Name: "New Person", Email: "n@example.com", Employer: "Acme", ExternalID: "X1",
			Registration: DateDay(2026, 2, 3), New: true},
		{ContactID: "e", Name: "Engaged Person", Email: "e@example.com", Employer: UnknownEmployer,
			Registration: DateDay(2025, 6, 1), LastCall: DateDay(2026, 1, 20), HasLastCall: true,
			Engaged: true, Qualifying: "100"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("records\n%+v\nwant\n%+v", recs, want)
	}
	if recs[0].Reason() != ReasonNew || recs[1].Reason() != ReasonEngaged {
		t.Errorf("reasons %s, %s", recs[0].Reason(), recs[1].Reason())
	}
	got := BillingCounts(recs)
	if len(got) != 2 || got["Acme"] != [3]int{1, 0, 0} || got[UnknownEmployer] != [3]int{0, 1, 0} {
		t.Errorf("counts %v", got)
	}
}
