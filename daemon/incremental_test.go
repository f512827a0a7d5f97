package daemon_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/replica"
)

// The published exposition: every report family and the gauges derived
// from the data (not the exporter's own counters, which differ between two
// exporters by design).
var publishedFamilies = append(slices.Clone(reportFamilies),
	"intercom_invalid_attribute_values", "intercom_merged_employers", "intercom_data_timestamp_seconds")

func exposition(t *testing.T, exp *harness) string {
	t.Helper()
	b, err := testutil.CollectAndFormat(exp, expfmt.TypeTextPlain, publishedFamilies...)
	require.NoError(t, err)
	return string(b)
}

// memberView is what the CSV files show of a member, comparable.
type memberView struct {
	Name, Email, ExternalID, Employer, Coach, Status, StoredStatus string
	Enrolled, Unread, HasLastCall                                  bool
	Registration, StoredLastCall                                   string
	LastCall                                                       engagement.Stamp
	UpdatedAt                                                      int64
	ChannelSet                                                     uint32
	Sessions                                                       int
	LastSession                                                    string
}

type sessionView struct {
	Day                    engagement.Day
	CreatedAt              int64
	Coach, Channel, Emplyr string
	Contacts               string
}

func stampString(s *engagement.Stamp) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprint(s.Unix, "/", s.Day)
}

// modelView is every member and session of a model, keyed by id, and the
// billing records of the months around now (what /billing.csv serves).
func modelView(m *engagement.Model) (map[string]memberView, map[string]sessionView, map[string][]engagement.BillingRecord) {
	members := map[string]memberView{}
	for i := range m.Members {
		mem := &m.Members[i]
		c := mem.Contact
		v := memberView{
			Name: c.Name, Email: c.Email, ExternalID: c.ExternalID, Employer: mem.Employer, Coach: mem.Coach,
			Status: mem.Status, StoredStatus: c.StoredStatus, Enrolled: mem.Enrolled, Unread: mem.Unread,
			HasLastCall: mem.HasLastCall, LastCall: mem.LastCall, Registration: stampString(c.Registration),
			StoredLastCall: stampString(c.StoredLastCall), UpdatedAt: c.UpdatedAt, ChannelSet: mem.ChannelSet,
			Sessions: len(mem.Sessions), LastSession: "-",
		}
		if mem.LastSession >= 0 {
			v.LastSession = m.Sessions[mem.LastSession].ConversationID
		}
		members[c.ID] = v
	}
	sessions := map[string]sessionView{}
	for i := range m.Sessions {
		s := &m.Sessions[i]
		var ids []string
		for _, k := range s.Contacts {
			ids = append(ids, m.Members[k].Contact.ID)
		}
		sessions[s.ConversationID] = sessionView{Day: s.Day, CreatedAt: s.CreatedAt, Coach: s.Coach,
			Channel: m.ChannelName(s), Emplyr: m.SessionEmployer(s), Contacts: strings.Join(ids, ",")}
	}
	billing := map[string][]engagement.BillingRecord{}
	for mo := engagement.MonthOf(m.Today).Prev().Prev(); !engagement.MonthOf(m.Today).Before(mo); mo = mo.Next() {
		recs, err := m.BillingRecords(mo)
		if err != nil {
			continue
		}
		slices.SortFunc(recs, func(a, b engagement.BillingRecord) int { return cmp.Compare(a.ContactID, b.ContactID) })
		billing[mo.String()] = recs
	}
	return members, sessions, billing
}

// requireSameData fails unless two exporters publish the same exposition
// and the same members, sessions, billing rows and sync plan.
func requireSameData(t *testing.T, got, want *harness) {
	t.Helper()
	require.Equal(t, exposition(t, want), exposition(t, got), "published exposition")
	gm, gs, gb := modelView(got.Model())
	wm, ws, wb := modelView(want.Model())
	for id, w := range wm {
		require.Equal(t, w, gm[id], "member %s", id)
	}
	require.Len(t, gm, len(wm), "members")
	for id, w := range ws {
		require.Equal(t, w, gs[id], "session %s", id)
	}
	require.Len(t, gs, len(ws), "sessions")
	require.Equal(t, wb, gb, "billing records")
	require.NotEmpty(t, wb[engagement.MonthOf(want.Model().Today).Prev().String()], "the previous month has billed members")
	gp, gu := got.Model().Plan(nil)
	wp, wu := want.Model().Plan(nil)
	require.Equal(t, wp, gp, "sync plan")
	require.Equal(t, wu, gu, "sync plan: unchanged")
}

// mutation is the test's own record of what it changed in the workspace.
type mutation struct {
	convs    map[string]bool
	contacts map[string]bool
}

// incrementalBound is the request budget (docs/performance.md) for an incremental
// refresh: 1.1 x (pages of changed conversations + pages of contacts
// updated in the overlap window) + 10.
func incrementalBound(changedConvs, overlapContacts int) int {
	pages := func(n int) int { return (n + 149) / 150 }
	return int(math.Floor(1.1*float64(pages(changedConvs)+pages(overlapContacts)))) + 10
}

// updatedSince counts the contacts updated since the start of the day of
// t in the workspace timezone: what the incremental contact search reads.
func updatedSince(ws *intercomtest.Workspace, t time.Time) int {
	loc, err := time.LoadLocation(ws.Timezone())
	if err != nil {
		panic(err)
	}
	y, m, d := t.In(loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, loc).Unix()
	n := 0
	for _, c := range ws.Contacts() {
		if c.UpdatedAt >= from {
			n++
		}
	}
	return n
}

// TestIncremental_EqualsAFullReadOfTheSameWorkspace is the scale scenario
// in small: a generated workspace read in full; about 1% of its
// conversations and contacts changed; an incremental refresh must publish
// exactly what a fresh exporter's full read of the changed workspace
// publishes, at a cost in requests proportional to the changes. Then a
// contact and conversations are deleted, which no "updated since" search
// returns: the incremental refresh finds them by comparing counts.
func TestIncremental_EqualsAFullReadOfTheSameWorkspace(t *testing.T) {
	genNow := time.Date(2026, 4, 30, 14, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: 11, Participants: 2000, Conversations: 20000, Coaches: 10, Employers: 30,
		Now: genNow, Timezone: "America/Chicago",
	})
	srv := startFake(t, ws, intercomtest.Options{})
	e := newEnv(srv)
	e["TIMEZONE"] = "Europe/Berlin" // the organisation's, not the workspace's
	e["SYNC_MODE"] = "dry-run"
	e["REFRESH_CONCURRENCY"] = "8"
	clk := &clock{t: genNow.Add(time.Hour)}
	inc := newExporter(t, e, clk.Now, nil)

	t0 := clk.Now()
	require.NoError(t, inc.Refresh(context.Background()))
	fullRequests := len(srv.Requests())

	// About 1% of the conversations and contacts change, in the next
	// quarter of an hour.
	clk.Add(15 * time.Minute)
	t1 := clk.Now()
	rng := rand.New(rand.NewPCG(5, 6))
	mut := mutate(t, ws, rng, t0, t1)
	require.GreaterOrEqual(t, len(mut.convs), 150)
	require.GreaterOrEqual(t, len(mut.contacts), 25)

	srv.ResetRequests()
	require.NoError(t, inc.Refresh(context.Background()))
	incRequests := len(srv.Requests())
	overlap := updatedSince(ws, t0.Add(-replica.DefaultOverlap))
	bound := incrementalBound(len(mut.convs), overlap)
	t.Logf("full read: %d requests; incremental: %d requests for %d changed conversations and %d contacts in the overlap window (bound %d)",
		fullRequests, incRequests, len(mut.convs), overlap, bound)
	assert.LessOrEqual(t, incRequests, bound, "requests of the incremental refresh")
	assert.Less(t, incRequests*5, fullRequests, "an incremental refresh costs a fraction of a full read")

	full := newExporter(t, e, clk.Now, nil)
	require.NoError(t, full.Refresh(context.Background()))
	requireSameData(t, inc, full)

	// Deletions: a contact with a registration on a session (a full read
	// shows it as unread), one on no session (gone), a session and a
	// closed conversation that is not a session.
	clk.Add(15 * time.Minute)
	onSession, alone := pickDeletableContacts(t, inc.Model())
	ws.DeleteContact(onSession)
	ws.DeleteContact(alone)
	session := inc.Model().Sessions[rng.IntN(len(inc.Model().Sessions))].ConversationID
	ws.DeleteConversation(session)
	ws.DeleteConversation(closedNonSession(t, ws, inc.Model()))

	srv.ResetRequests()
	require.NoError(t, inc.Refresh(context.Background()))
	delRequests := len(srv.Requests())
	// Finding a deleted record costs a count per halving of its range down
	// to a page, a page, and a look-up by id: for conversations and
	// contacts, about 2 x (log2(records/150) + 4) on top.
	extra := 2 * (int(math.Ceil(math.Log2(float64(ws.NumConversations())/150))) + 4)
	delBound := incrementalBound(0, updatedSince(ws, t1.Add(-replica.DefaultOverlap))) + extra
	t.Logf("incremental with deletions: %d requests (bound %d)", delRequests, delBound)
	assert.LessOrEqual(t, delRequests, delBound)

	_, stillThere := inc.Model().Member(alone)
	assert.False(t, stillThere, "a deleted contact on no session is gone")
	mem, ok := inc.Model().Member(onSession)
	require.True(t, ok)
	assert.True(t, mem.Unread, "a deleted contact listed on a session is shown as unread")

	full2 := newExporter(t, e, clk.Now, nil)
	require.NoError(t, full2.Refresh(context.Background()))
	requireSameData(t, inc, full2)
}

// mutate changes about 1% of the conversations and contacts, every change
// at a time in (from, to]: new sessions (one for a contact read only for
// it, one listing a contact that does not exist), new open conversations,
// reopened sessions, channels changed both ways, re-assignments; contacts
// registered, unregistered, moved to another employer, their stored last
// call changed.
func mutate(t *testing.T, ws *intercomtest.Workspace, rng *rand.Rand, from, to time.Time) mutation {
	t.Helper()
	mut := mutation{convs: map[string]bool{}, contacts: map[string]bool{}}
	at := func() int64 { return from.Unix() + 1 + rng.Int64N(to.Unix()-from.Unix()) }
	convs := ws.Conversations()
	contacts := ws.Contacts()
	admins := ws.Admins()
	var sessions, others []intercom.Conversation
	for _, c := range convs {
		ch, _ := c.CustomAttributes.String(intercomtest.AttrChannel)
		switch {
		case c.State != "closed":
		case slices.Contains([]string{"phone", "video conference", "email", "chat"}, strings.ToLower(strings.TrimSpace(ch))):
			sessions = append(sessions, c)
		default:
			others = append(others, c)
		}
	}
	pick := func(list []intercom.Conversation) intercom.Conversation {
		for {
			c := list[rng.IntN(len(list))]
			if !mut.convs[c.ID] {
				return c
			}
		}
	}
	update := func(c intercom.Conversation, fn func(*intercom.Conversation)) {
		ws.UpdateConversation(c.ID, func(c *intercom.Conversation) {
			fn(c)
			c.UpdatedAt = at()
		})
		mut.convs[c.ID] = true
	}
	channel := func(c *intercom.Conversation, name string) {
		c.CustomAttributes = maps.Clone(c.CustomAttributes)
		if c.CustomAttributes == nil {
			c.CustomAttributes = intercom.Attributes{}
		}
		c.CustomAttributes[intercomtest.AttrChannel] = raw(name)
	}
	n := len(convs) / 100
	for i := range n / 3 { // new conversations
		created := at() - 3600
		c := conversation(fmt.Sprintf("%d", 900_000_000+i), "closed", []string{"Phone", "Video Conference", "Email", "Chat"}[i%4],
			admins[rng.IntN(len(admins))].ID, created, contacts[rng.IntN(len(contacts))].ID)
		switch i % 10 {
		case 0:
			c.State = "open"
		case 1:
			c.Contacts.Contacts = append(c.Contacts.Contacts, intercom.ContactRef{ID: "does-not-exist-" + fmt.Sprint(i)})
		}
		c.UpdatedAt = at()
		ws.AddConversation(c)
		mut.convs[c.ID] = true
	}
	for range n / 6 { // reopened
		update(pick(sessions), func(c *intercom.Conversation) { c.State = "open" })
	}
	for range n / 12 { // a session's channel changed to one that is not a session's
		update(pick(sessions), func(c *intercom.Conversation) { channel(c, "SMS") })
	}
	for range n / 12 { // and the other way
		update(pick(others), func(c *intercom.Conversation) { channel(c, "Video Conference") })
	}
	for range n / 4 { // re-assigned
		update(pick(sessions), func(c *intercom.Conversation) {
			c.AdminAssigneeID = intercom.ID(admins[rng.IntN(len(admins))].ID)
		})
	}

	k := len(contacts) / 100
	pickContact := func(ok func(intercom.Contact) bool) intercom.Contact {
		for {
			c := contacts[rng.IntN(len(contacts))]
			if !mut.contacts[c.ID] && ok(c) {
				mut.contacts[c.ID] = true
				return c
			}
		}
	}
	has := func(c intercom.Contact, name string) bool { return c.CustomAttributes.Present(name) }
	for range k / 4 { // registered (some of them never read before)
		c := pickContact(func(c intercom.Contact) bool {
			return !has(c, intercomtest.AttrRegistrationDate) && !has(c, intercomtest.AttrEnrolledDate)
		})
		ws.SetContactAttribute(c.ID, intercomtest.AttrRegistrationDate, at()-20*86400, at())
	}
	for range k / 4 { // registration removed
		c := pickContact(func(c intercom.Contact) bool {
			return has(c, intercomtest.AttrRegistrationDate) && !has(c, intercomtest.AttrEnrolledDate)
		})
		ws.SetContactAttribute(c.ID, intercomtest.AttrRegistrationDate, nil, at())
	}
	for range k / 4 { // employer changed
		c := pickContact(func(intercom.Contact) bool { return true })
		ws.SetContactAttribute(c.ID, intercomtest.AttrEmployer, fmt.Sprintf("Newco %d", rng.IntN(3)), at())
	}
	for range k / 4 { // stored last call changed
		c := pickContact(func(c intercom.Contact) bool { return has(c, intercomtest.AttrRegistrationDate) })
		ws.SetContactAttribute(c.ID, intercomtest.AttrLastCoachingCall, at()-int64(rng.IntN(90))*86400, at())
	}
	return mut
}

// pickDeletableContacts finds an enrolled contact listed on a session and
// one listed on none.
func pickDeletableContacts(t *testing.T, m *engagement.Model) (onSession, alone string) {
	t.Helper()
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.Enrolled || mem.Unread {
			continue
		}
		if onSession == "" && len(mem.Sessions) > 0 {
			onSession = mem.Contact.ID
		}
		if alone == "" && len(mem.Sessions) == 0 {
			alone = mem.Contact.ID
		}
	}
	require.NotEmpty(t, onSession)
	require.NotEmpty(t, alone)
	return onSession, alone
}

// closedNonSession is a closed conversation of the data window that is not
// a session.
func closedNonSession(t *testing.T, ws *intercomtest.Workspace, m *engagement.Model) string {
	t.Helper()
	start := m.Now.Add(-300 * 24 * time.Hour).Unix()
	for _, c := range ws.Conversations() {
		ch, _ := c.CustomAttributes.String(intercomtest.AttrChannel)
		if c.State == "closed" && ch == "SMS" && c.UpdatedAt > start {
			return c.ID
		}
	}
	t.Fatal("no closed SMS conversation")
	return ""
}

func rngFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }
