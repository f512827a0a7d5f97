package engagement

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
)

// randomWorld is a small random input with awkward values: channel
// spellings, non-sessions, shared conversations, duplicates, unread
// contacts, future stamps, several timezones.
func randomWorld(r *rand.Rand) (input, Config, time.Time) {
	locs := []*time.Location{utc, la, kolkata, london}
	loc := locs[r.Intn(len(locs))]
	cfg := cfgIn(loc)
	cfg.LookbackDays = []int{30, 90, 128, 365}[r.Intn(4)]
	cfg.MemberCoach = []string{MemberCoachOwner, MemberCoachLastSession}[r.Intn(2)]
	now := time.Date(2026, time.Month(1+r.Intn(12)), 1+r.Intn(28), r.Intn(24), r.Intn(60), 0, 0, loc)
	span := int64(420 * 86400)
	randTime := func() int64 { return now.Unix() - r.Int63n(span) + 2*86400 }
	stamp := func() *Stamp {
		switch r.Intn(4) {
		case 0:
			return nil
		case 1:
			d := DayOf(time.Unix(randTime(), 0), loc)
			return &Stamp{Unix: d.Start(loc).Unix(), Day: d}
		default:
			u := randTime()
			return &Stamp{Unix: u, Day: DayOfUnix(u, loc)}
		}
	}
	var d input
	d.AdminsKnown = r.Intn(4) > 0
	d.Admins = []Admin{{"1", "Ann"}, {"2", "Bob"}, {"3", "Bob"}}
	nContacts := r.Intn(30)
	for i := 0; i < nContacts; i++ {
		d.Contacts = append(d.Contacts, Contact{
			ID:             strconv.Itoa(i + 1),
			OwnerID:        []string{"", "", "0", "1", "3", "9"}[r.Intn(6)],
			Employer:       []string{"", " Acme ", "Acme", "Beta", "beta"}[r.Intn(5)],
			Registration:   stamp(),
			StoredLastCall: stamp(),
			StoredStatus:   []string{"", StatusEngaged, StatusAtRisk}[r.Intn(3)],
		})
	}
	channels := []string{"Phone", " phone", "EMAIL", "Chat", "Video Conference", "SMS", ""}
	nConvs := r.Intn(60)
	for i := 0; i < nConvs; i++ {
		if i > 0 && r.Intn(10) == 0 {
			d.Conversations = append(d.Conversations, d.Conversations[r.Intn(i)]) // read twice
			continue
		}
		c := tconv{
			ID:        strconv.Itoa(1000 + i),
			CreatedAt: randTime(),
			State:     []string{"closed", "closed", "closed", "open"}[r.Intn(4)],
			Channel:   channels[r.Intn(len(channels))],
			AdminID:   []string{"", "0", "1", "2", "3", "8"}[r.Intn(6)],
		}
		for k := 0; k < 1+r.Intn(3); k++ {
			if r.Intn(8) == 0 {
				c.ContactIDs = append(c.ContactIDs, "x"+strconv.Itoa(r.Intn(3))) // not read
			} else if nContacts > 0 {
				c.ContactIDs = append(c.ContactIDs, strconv.Itoa(1+r.Intn(nContacts)))
			}
		}
		d.Conversations = append(d.Conversations, c)
	}
	return d, cfg, now
}

// reference recomputes the totals straight from the documented rules (docs/reports.md) and the raw data,
// without the model: calendar dates via time.Date, channels by hand.
type reference struct {
	caseloadBands [4]int // members by band of days since last lookback session
	sessions      int
	enrolled      int
	withStatus    int
	billing       map[string]string // contact id -> reason
	billable      bool
}

func computeReference(d input, cfg Config, now time.Time) reference {
	loc := cfg.Location
	civil := func(u int64) time.Time {
		y, m, dd := time.Unix(u, 0).In(loc).Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
	}
	today := civil(now.Unix())
	daysSince := func(u int64) int {
		n := int(today.Sub(civil(u)).Hours() / 24)
		if n < 0 {
			return 0
		}
		return n
	}
	dayDiff := func(a, b time.Time) int { return int(a.Sub(b).Hours() / 24) }
	isSession := func(c tconv) (call, ok bool) {
		if c.State != "closed" {
			return false, false
		}
		switch strings.ToLower(strings.TrimSpace(c.Channel)) {
		case "phone", "video conference":
			return true, true
		case "email", "chat":
			return false, true
		}
		return false, false
	}
	ref := reference{billing: map[string]string{}}
	seen := map[string]bool{}
	lastInLookback := map[string]int{} // contact -> fewest days since
	hasCall := map[string]bool{}
	calls := map[string][]time.Time{}
	for _, c := range d.Conversations {
		call, ok := isSession(c)
		if !ok || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		days := daysSince(c.CreatedAt)
		in := days <= cfg.LookbackDays
		if in {
			ref.sessions++
		}
		for _, id := range c.ContactIDs {
			if in {
				if prev, ok := lastInLookback[id]; !ok || days < prev {
					lastInLookback[id] = days
				}
			}
			if call {
				hasCall[id] = true
				calls[id] = append(calls[id], civil(c.CreatedAt))
			}
		}
	}
	for _, days := range lastInLookback {
		switch {
		case days <= 7:
			ref.caseloadBands[0]++
		case days <= 28:
			ref.caseloadBands[1]++
		case days <= 56:
			ref.caseloadBands[2]++
		default:
			ref.caseloadBands[3]++
		}
	}
	// Contacts with a status: any call read, or a stored call not more
	// than a day ahead; else enrolled (No Call).
	status := map[string]bool{}
	for id := range hasCall {
		status[id] = true
	}
	for _, c := range d.Contacts {
		if c.Registration != nil {
			ref.enrolled++
			status[c.ID] = true
		}
		if c.StoredLastCall != nil && c.StoredLastCall.Unix <= now.Unix()+86400 {
			status[c.ID] = true
		}
	}
	ref.withStatus = len(status)

	// Billing of the previous month.
	y, m, _ := today.Date()
	first := time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(y, m, 0, 0, 0, 0, 0, time.UTC)
	windowStart := first.AddDate(0, 0, -cfg.BillingEngagedDays)
	ref.billable = dayDiff(today, windowStart) <= cfg.LookbackDays
	for _, c := range d.Contacts {
		if c.Registration == nil {
			continue
		}
		ry, rm, rd := c.Registration.Day.Date()
		reg := time.Date(ry, rm, rd, 0, 0, 0, 0, time.UTC)
		if reg.After(last) {
			continue
		}
		isNew := !reg.Before(first)
		engaged := false
		for _, cd := range calls[c.ID] {
			if !cd.Before(windowStart) && !cd.After(last) {
				engaged = true
			}
		}
		switch {
		case isNew && engaged:
			ref.billing[c.ID] = ReasonNewAndEngaged
		case isNew:
			ref.billing[c.ID] = ReasonNew
		case engaged:
			ref.billing[c.ID] = ReasonEngaged
		}
	}
	return ref
}

func TestProperty_ReportsAreAdditiveAndMatchTheRules(t *testing.T) {
	const seeds = 400
	for seed := int64(1); seed <= seeds; seed++ {
		r := rand.New(rand.NewSource(seed))
		data, cfg, now := randomWorld(r)
		m := build(data, cfg, now)
		rep := m.Reports()
		ref := computeReference(data, cfg, now)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("seed %d (%s, now %s, lookback %d): "+format,
				append([]any{seed, cfg.Location, now.Format(time.RFC3339), cfg.LookbackDays}, args...)...)
		}

		// Caseload: every member with a lookback session in exactly one
		// band, the right one; channel mix sums to the same members.
		if got := bands4(rep.Caseload); got != ref.caseloadBands {
			fail("caseload by band %v, want %v", got, ref.caseloadBands)
		}
		mix := 0
		for _, n := range rep.ChannelMix {
			mix += n
		}
		if mix != sum(ref.caseloadBands) || len(m.Caseload(0)) != mix {
			fail("channel mix members %d, caseload rows %d, want %d", mix, len(m.Caseload(0)), sum(ref.caseloadBands))
		}
		// Sessions: each in-lookback session once.
		if got := sum(bands4(rep.Sessions)); got != ref.sessions {
			fail("sessions %d, want %d", got, ref.sessions)
		}
		// Participants: every enrolled contact once.
		if got := sum(bands4(rep.Participants)); got != ref.enrolled || len(m.Participants()) != ref.enrolled {
			fail("participants %d (rows %d), want %d", got, len(m.Participants()), ref.enrolled)
		}
		// Engagement: every contact with a status once.
		if got := sum(bands4(rep.Engagement)); got != ref.withStatus {
			fail("engagement contacts %d, want %d", got, ref.withStatus)
		}
		// Groups that exist are never empty.
		for k, v := range rep.Caseload {
			if sum(v) == 0 {
				fail("empty caseload group %v", k)
			}
		}
		// Billing: each member in exactly one reason, the right one.
		rows, err := m.Billing(rep.BillingMonth)
		if (err == nil) != ref.billable {
			fail("billing error %v, want billable=%v", err, ref.billable)
			continue
		}
		if err != nil {
			continue
		}
		if got := sum(bands3(rep.Billing)); got != len(ref.billing) || len(rows) != len(ref.billing) {
			fail("billing members %d (rows %d), want %d", got, len(rows), len(ref.billing))
		}
		ids := map[string]bool{}
		for _, row := range rows {
			id := row.Member.Contact.ID
			if ids[id] {
				fail("member %s billed twice", id)
			}
			ids[id] = true
			if row.Reason() != ref.billing[id] {
				fail("member %s billed as %s, want %q", id, row.Reason(), ref.billing[id])
			}
			if row.Engaged != (row.Qualifying != nil) || (row.Qualifying != nil && row.LastCall == nil) {
				fail("member %s: engaged %v, qualifying %v, last %v", id, row.Engaged, row.Qualifying, row.LastCall)
			}
		}
		// The plan never writes No Call nor a contact without a status,
		// and never moves a stored call backwards.
		changes, unchanged := m.Plan(nil)
		for _, c := range changes {
			mem := mustMember(t, m, c.ContactID)
			if !Writable(c.Status) || mem.Unread || mem.Status != c.Status {
				fail("planned %+v for member with status %q", c, mem.Status)
			}
			if c.StoredLastCall != nil && c.LastCall < *c.StoredLastCall {
				fail("planned %s moves the last call backwards", fmtChange(c))
			}
		}
		writable := 0
		for i := range m.Members {
			if mem := &m.Members[i]; Writable(mem.Status) && !mem.Unread {
				writable++
			}
		}
		if len(changes)+unchanged != writable {
			fail("planned %d + unchanged %d, want %d contacts with a written status", len(changes), unchanged, writable)
		}
	}
}
