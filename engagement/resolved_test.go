package engagement

import (
	"math/rand"
	"reflect"
	"testing"
	"time"
)

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
	d := input{
		Contacts: []Contact{n, e},
		Conversations: []tconv{
			call("100", at(utc, 2026, 1, 20, 9, 0), "e"),
			call("101", at(utc, 2026, 3, 2, 9, 0), "e"), // after the month: neither last call nor qualifying
			session("102", at(utc, 2026, 2, 25, 9, 0), "Email", "e"),
		},
	}
	recs, err := build(d, cfgIn(utc), now).BillingRecords(Month{2026, time.February})
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
