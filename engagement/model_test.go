package engagement

import (
	"strconv"
	"testing"
	"time"
)

// now for most model tests: 2026-06-15 12:00 in Los Angeles (PDT, UTC-7),
// which is 19:00Z the same day. DateDay arithmetic below is calendar days.
var laNoon = at(la, 2026, 6, 15, 12, 0)

// daysBefore is the instant h:mi local time, n calendar days before now's day.
func daysBefore(now time.Time, loc *time.Location, n, h, mi int) time.Time {
	y, mo, d := now.In(loc).Date()
	return time.Date(y, mo, d-n, h, mi, 0, 0, loc)
}

func TestCaseloadAndSessions_AgeBandBoundaries(t *testing.T) {
	// Bands (docs/reports.md): 0-7d, 8-28d, 29-56d, 57d+, inclusive.
	tests := []struct {
		days int
		want string
	}{
		{0, "0-7d"}, {7, "0-7d"}, {8, "8-28d"}, {28, "8-28d"},
		{29, "29-56d"}, {56, "29-56d"}, {57, "57d+"}, {365, "57d+"},
	}
	for _, tt := range tests {
		// A session at 00:05 and at 23:55 local time on the same day must
		// land in the same band: only the calendar day counts.
		for _, hm := range [][2]int{{0, 5}, {23, 55}} {
			when := daysBefore(laNoon, la, tt.days, hm[0], hm[1])
			name := when.Format("2006-01-02_15:04_MST") + "_is_" + tt.want
			// (23:55 today is later than now: the future counts as 0.)
			t.Run(name, func(t *testing.T) {
				m := build(input{Conversations: []tconv{call("1", when, "c")}}, cfgIn(la), laNoon)
				row := caseloadRow(m, "c")
				if row == nil {
					t.Fatal("member c is not in the caseload")
				}
				if row.DaysSince != tt.days || row.Band != tt.want {
					t.Errorf("caseload: %d days, band %s; want %d, %s", row.DaysSince, row.Band, tt.days, tt.want)
				}
				r := m.Reports()
				g := GroupKey{Unassigned, UnknownEmployer}
				if got := r.Caseload[g][BandOf(AgeBands, tt.days)]; got != 1 || sum(r.Caseload[g]) != 1 {
					t.Errorf("caseload report %v, want 1 in %s", r.Caseload[g], tt.want)
				}
				k := SessionKey{Unassigned, UnknownEmployer, "Phone"}
				if got := r.Sessions[k]; sum(got) != 1 || got[indexOf(BandNames(AgeBands), tt.want)] != 1 {
					t.Errorf("sessions report %v, want 1 in %s", got, tt.want)
				}
				if got := m.SessionBand(&m.Sessions[0]); got != tt.want {
					t.Errorf("SessionBand = %s, want %s", got, tt.want)
				}
			})
		}
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func TestParticipants_DaysWithoutSessionBandBoundaries(t *testing.T) {
	// Participant bands (docs/reports.md): 0-13d, 14-21d, 22-28d, 29d+.
	tests := []struct {
		days int
		want string
	}{
		{0, "0-13d"}, {13, "0-13d"}, {14, "14-21d"}, {21, "14-21d"},
		{22, "22-28d"}, {28, "22-28d"}, {29, "29d+"}, {400, "29d+"},
	}
	today := DayOf(laNoon, la)
	for _, tt := range tests {
		t.Run("session_"+tt.want+"_at_"+itoa(tt.days), func(t *testing.T) {
			// Registered long ago, an email (any session channel counts) n days ago.
			c := enrolledContact("p", la, 2020, 1, 1)
			conv := session("1", daysBefore(laNoon, la, tt.days, 23, 55), "Email", "p")
			// At 400 days the session is outside the lookback and does not
			// count; the registration (2020) is far more than 29 days ago.
			m := build(input{Contacts: []Contact{c}, Conversations: []tconv{conv}}, cfgIn(la), laNoon)
			checkParticipantBand(t, m, "p", tt.want)
		})
		t.Run("registration_"+tt.want+"_at_"+itoa(tt.days), func(t *testing.T) {
			// No session: days since the registration day (date-only).
			y, mo, d := (today - Day(tt.days)).Date()
			c := enrolledContact("p", la, y, mo, d)
			m := build(input{Contacts: []Contact{c}}, cfgIn(la), laNoon)
			checkParticipantBand(t, m, "p", tt.want)
			if row := participantRow(m, "p"); row.DaysWithout != tt.days {
				t.Errorf("days without = %d, want %d", row.DaysWithout, tt.days)
			}
		})
	}
}

func checkParticipantBand(t *testing.T, m *Model, id, want string) {
	t.Helper()
	row := participantRow(m, id)
	if row == nil {
		t.Fatalf("%s is not a participant", id)
	}
	if row.Band != want {
		t.Errorf("participant band = %s (%d days), want %s", row.Band, row.DaysWithout, want)
	}
	r := m.Reports().Participants[GroupKey{Unassigned, UnknownEmployer}]
	if sum(r) != 1 || r[indexOf(BandNames(ParticipantBands), want)] != 1 {
		t.Errorf("participants report %v, want 1 in %s", r, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParticipants_RegistrationUsesTheStampDayInTheTimezone(t *testing.T) {
	// A registration date-time 2026-03-01T03:00Z is 2026-02-28 19:00 PST in
	// Los Angeles, so its day there is Feb 28 (the collector sets Day).
	// At 2026-03-14 12:00 PDT: Feb 28 -> Mar 14 = 14 days (14-21d); reading
	// the UTC day (Mar 1) would give 13 (0-13d).
	reg := instant(time.Date(2026, 3, 1, 3, 0, 0, 0, utc), la)
	if reg.Day.String() != "2026-02-28" {
		t.Fatalf("setup: day %s", reg.Day)
	}
	m := build(input{Contacts: []Contact{{ID: "p", Registration: reg}}}, cfgIn(la), at(la, 2026, 3, 14, 12, 0))
	checkParticipantBand(t, m, "p", "14-21d")

	// ISO date-only "2026-03-01" in Kolkata is the calendar day Mar 1 even
	// though its Unix (midnight IST) is Feb 28 18:30Z. At Mar 14 12:00 IST:
	// Mar 1 -> Mar 14 = 13 days (0-13d); the UTC day would give 14.
	m = build(input{Contacts: []Contact{{ID: "p", Registration: dateStamp(kolkata, 2026, 3, 1)}}}, cfgIn(kolkata), at(kolkata, 2026, 3, 14, 12, 0))
	checkParticipantBand(t, m, "p", "0-13d")
}

func TestParticipants_SessionBeforeRegistrationStillCountsAsLastSession(t *testing.T) {
	// docs/reports.md: days since its last session if it has one (in the
	// lookback), else since registration. Registered 2 days ago, last
	// session 30 days ago: 30 days, 29d+.
	c := enrolledContact("p", la, 2026, 6, 13)
	conv := call("1", daysBefore(laNoon, la, 30, 10, 0), "p")
	m := build(input{Contacts: []Contact{c}, Conversations: []tconv{conv}}, cfgIn(la), laNoon)
	checkParticipantBand(t, m, "p", "29d+")
}

func TestEngagementStatus_Rules(t *testing.T) {
	// now 2026-06-15 12:00 PDT; ENGAGED_DAYS 28, AT_RISK_DAYS 56.
	now := laNoon
	ago := func(n int) time.Time { return daysBefore(now, la, n, 10, 0) }
	enrolled := func(c Contact) Contact { c.Registration = dateStamp(la, 2025, 1, 1); return c }
	tests := []struct {
		name     string
		contact  Contact
		convs    []tconv
		want     string
		wantLast int64 // expected LastCall.Unix when a last call exists
		wantNoLC bool  // expect no last call
	}{
		{"call 0 days ago is Engaged", Contact{ID: "c"}, []tconv{call("1", ago(0), "c")}, StatusEngaged, ago(0).Unix(), false},
		{"call 28 days ago is Engaged", Contact{ID: "c"}, []tconv{call("1", ago(28), "c")}, StatusEngaged, ago(28).Unix(), false},
		{"call 29 days ago is At Risk", Contact{ID: "c"}, []tconv{call("1", ago(29), "c")}, StatusAtRisk, ago(29).Unix(), false},
		{"call 56 days ago is At Risk", Contact{ID: "c"}, []tconv{call("1", ago(56), "c")}, StatusAtRisk, ago(56).Unix(), false},
		{"call 57 days ago is Unengaged", Contact{ID: "c"}, []tconv{call("1", ago(57), "c")}, StatusUnengaged, ago(57).Unix(), false},
		{"video conference is a call", Contact{ID: "c"}, []tconv{session("1", ago(3), "Video Conference", "c")}, StatusEngaged, ago(3).Unix(), false},
		{"enrolled without any session is No Call", enrolled(Contact{ID: "c"}), nil, StatusNoCall, 0, true},
		{"enrolled with only email and chat is No Call", enrolled(Contact{ID: "c"}),
			[]tconv{session("1", ago(1), "Email", "c"), session("2", ago(2), "Chat", "c")}, StatusNoCall, 0, true},
		{"not enrolled without a call has no status", Contact{ID: "c"}, []tconv{session("1", ago(1), "Email", "c")}, "", 0, true},
		{"not enrolled with a call has a status", Contact{ID: "c"}, []tconv{call("1", ago(10), "c")}, StatusEngaged, ago(10).Unix(), false},
		{"email yesterday does not rescue a call 60 days ago", Contact{ID: "c"},
			[]tconv{call("1", ago(60), "c"), session("2", ago(1), "Email", "c")}, StatusUnengaged, ago(60).Unix(), false},
		{"open phone conversation is not a call", Contact{ID: "c"},
			[]tconv{call("1", ago(60), "c"), {ID: "2", CreatedAt: ago(1).Unix(), State: "open", Channel: "Phone", ContactIDs: []string{"c"}}},
			StatusUnengaged, ago(60).Unix(), false},
		{"stored call later than conversations wins", Contact{ID: "c", StoredLastCall: instant(ago(3), la)},
			[]tconv{call("1", ago(40), "c")}, StatusEngaged, ago(3).Unix(), false},
		{"conversation later than stored call wins", Contact{ID: "c", StoredLastCall: instant(ago(40), la)},
			[]tconv{call("1", ago(3), "c")}, StatusEngaged, ago(3).Unix(), false},
		{"stored call alone gives the status", Contact{ID: "c", StoredLastCall: instant(ago(60), la)}, nil, StatusUnengaged, ago(60).Unix(), false},
		{"stored date-only 28 days ago is Engaged", Contact{ID: "c", StoredLastCall: dateStamp(la, 2026, 5, 18)}, nil, StatusEngaged, dateStamp(la, 2026, 5, 18).Unix, false},
		{"stored date-only 29 days ago is At Risk", Contact{ID: "c", StoredLastCall: dateStamp(la, 2026, 5, 17)}, nil, StatusAtRisk, dateStamp(la, 2026, 5, 17).Unix, false},
		{"stored call more than a day ahead is ignored", Contact{ID: "c", StoredLastCall: instant(now.Add(24*time.Hour+time.Second), la)},
			[]tconv{call("1", ago(40), "c")}, StatusAtRisk, ago(40).Unix(), false},
		{"stored call exactly a day ahead is accepted", Contact{ID: "c", StoredLastCall: instant(now.Add(24*time.Hour), la)},
			[]tconv{call("1", ago(40), "c")}, StatusEngaged, now.Add(24 * time.Hour).Unix(), false},
		{"stored date-only tomorrow (midnight, 12h ahead) is accepted", Contact{ID: "c", StoredLastCall: dateStamp(la, 2026, 6, 16)},
			[]tconv{call("1", ago(40), "c")}, StatusEngaged, dateStamp(la, 2026, 6, 16).Unix, false},
		{"stored far-future call alone: not enrolled, no status", Contact{ID: "c", StoredLastCall: instant(now.AddDate(0, 1, 0), la)}, nil, "", 0, true},
		{"stored far-future call alone: enrolled, No Call", enrolled(Contact{ID: "c", StoredLastCall: instant(now.AddDate(0, 1, 0), la)}), nil, StatusNoCall, 0, true},
		{"call older than the lookback still counts for the last call", Contact{ID: "c"},
			[]tconv{call("1", ago(400), "c")}, StatusUnengaged, ago(400).Unix(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(input{Contacts: []Contact{tt.contact}, Conversations: tt.convs}, cfgIn(la), now)
			mem := mustMember(t, m, "c")
			if mem.Status != tt.want {
				t.Errorf("status = %q, want %q", mem.Status, tt.want)
			}
			if mem.HasLastCall == tt.wantNoLC {
				t.Fatalf("HasLastCall = %v", mem.HasLastCall)
			}
			if !tt.wantNoLC && mem.LastCall.Unix != tt.wantLast {
				t.Errorf("last call = %s, want %s", time.Unix(mem.LastCall.Unix, 0).In(la), time.Unix(tt.wantLast, 0).In(la))
			}
			r := m.Reports().Engagement
			if tt.want == "" {
				if len(r) != 0 {
					t.Errorf("engagement report %v, want nothing", r)
				}
				return
			}
			if got := r[UnknownEmployer]; sum(got) != 1 || got[indexOf(Statuses, tt.want)] != 1 {
				t.Errorf("engagement report %v, want 1 %s", got, tt.want)
			}
		})
	}
}

func TestChannels_MatchingIgnoresCaseAndSurroundingSpaces(t *testing.T) {
	now := laNoon
	tests := []struct {
		channel, state string
		want           string // canonical channel, "" when not a session
	}{
		{"Phone", "closed", "Phone"},
		{"  phone ", "closed", "Phone"},
		{"PHONE", "closed", "Phone"},
		{"video conference", "closed", "Video Conference"},
		{"\tVideo Conference\n", "closed", "Video Conference"},
		{"eMaIl", "closed", "Email"},
		{"chat", "closed", "Chat"},
		{"Video  Conference", "closed", ""}, // inner spaces count
		{"Phone call", "closed", ""},
		{"SMS", "closed", ""},
		{"", "closed", ""},
		{"Phone", "open", ""},
		{"Phone", "snoozed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.state+"_"+tt.channel, func(t *testing.T) {
			conv := tconv{ID: "1", CreatedAt: now.Add(-time.Hour).Unix(), State: tt.state, Channel: tt.channel, ContactIDs: []string{"c"}}
			m := build(input{Conversations: []tconv{conv}}, cfgIn(la), now)
			r := m.Reports()
			if tt.want == "" {
				if len(m.Sessions) != 0 || len(r.Sessions) != 0 || len(r.Caseload) != 0 {
					t.Errorf("not a session, but sessions %d, report %v", len(m.Sessions), r.Sessions)
				}
				return
			}
			if len(m.Sessions) != 1 || m.ChannelName(&m.Sessions[0]) != tt.want {
				t.Fatalf("sessions %v, want one on %s", m.Sessions, tt.want)
			}
			if sum(r.Sessions[SessionKey{Unassigned, UnknownEmployer, tt.want}]) != 1 {
				t.Errorf("sessions report %v, want 1 under channel %q", r.Sessions, tt.want)
			}
		})
	}
}

func TestChannels_CanonicalSpellingIsTheConfiguredOne(t *testing.T) {
	cfg := cfgIn(utc)
	cfg.SessionChannels = []string{"video call", "PHONE", "Email"}
	cfg.CallChannels = []string{"phone"}
	now := at(utc, 2026, 6, 15, 12, 0)
	convs := []tconv{session("1", now.Add(-time.Hour), "Phone", "c"), session("2", now.Add(-2*time.Hour), "Video Call", "c")}
	m := build(input{Conversations: convs}, cfg, now)
	r := m.Reports()
	if sum(r.Sessions[SessionKey{Unassigned, UnknownEmployer, "PHONE"}]) != 1 || sum(r.Sessions[SessionKey{Unassigned, UnknownEmployer, "video call"}]) != 1 {
		t.Errorf("sessions report %v, want channels spelled PHONE and video call", r.Sessions)
	}
	if got := r.ChannelMix[MixKey{Unassigned, UnknownEmployer, "video call+PHONE"}]; got != 1 {
		t.Errorf("channel mix %v, want video call+PHONE", r.ChannelMix)
	}
	// "phone" in CALL_CHANNELS matches PHONE: the Phone session is a call;
	// video call is not in CALL_CHANNELS.
	if mem := mustMember(t, m, "c"); !mem.HasLastCall || mem.LastCall.Unix != now.Add(-time.Hour).Unix() {
		t.Errorf("last call %+v, want the PHONE session", mem.LastCall)
	}
	if got, ok := m.Channels.Canonical(" phone "); !ok || got != "PHONE" {
		t.Errorf("Canonical(phone) = %q, %v", got, ok)
	}
	if _, ok := m.Channels.Canonical("Chat"); ok {
		t.Error("Chat is not configured but Canonical accepts it")
	}
}

func TestCaseload_ChannelMixIsConfiguredOrderJoinedByPlus(t *testing.T) {
	now := laNoon
	ago := func(n int) time.Time { return daysBefore(now, la, n, 9, 0) }
	tests := []struct {
		name  string
		convs []tconv
		want  string
	}{
		{"Email, Phone, Chat over time is Phone+Email+Chat",
			[]tconv{session("1", ago(1), "Email", "c"), session("2", ago(2), "Phone", "c"), session("3", ago(3), "chat", "c")}, "Phone+Email+Chat"},
		{"Chat and Video is Video Conference+Chat",
			[]tconv{session("1", ago(1), "Chat", "c"), session("2", ago(2), "Video Conference", "c")}, "Video Conference+Chat"},
		{"two phone sessions is Phone",
			[]tconv{session("1", ago(1), "Phone", "c"), session("2", ago(2), "phone", "c")}, "Phone"},
		{"a session outside the lookback is not in the mix",
			[]tconv{session("1", ago(1), "Email", "c"), session("2", ago(366), "Phone", "c")}, "Email"},
		{"non-sessions are not in the mix",
			[]tconv{session("1", ago(1), "Email", "c"), session("2", ago(2), "SMS", "c"),
				{ID: "3", CreatedAt: ago(3).Unix(), State: "open", Channel: "Chat", ContactIDs: []string{"c"}}}, "Email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(input{Conversations: tt.convs}, cfgIn(la), now)
			if row := caseloadRow(m, "c"); row == nil || row.Channels != tt.want {
				t.Errorf("caseload row %+v, want channels %s", row, tt.want)
			}
			mix := m.Reports().ChannelMix
			if len(mix) != 1 || mix[MixKey{Unassigned, UnknownEmployer, tt.want}] != 1 {
				t.Errorf("channel mix report %v, want one member in %s", mix, tt.want)
			}
		})
	}
}

func TestSessions_ConversationWithTwoContactsCountsOnceForBoth(t *testing.T) {
	now := laNoon
	contacts := []Contact{{ID: "a", Employer: " Acme "}, {ID: "b", Employer: "Beta"}}
	// Listed a, b (and a again): one session, employer of a (trimmed).
	convs := []tconv{call("1", now.Add(-time.Hour), "a", "b", "a")}
	m := build(input{Contacts: contacts, Conversations: convs}, cfgIn(la), now)
	r := m.Reports()
	if got := bands4(r.Sessions); sum(got) != 1 {
		t.Errorf("sessions total %v, want 1", got)
	}
	if sum(r.Sessions[SessionKey{Unassigned, "Acme", "Phone"}]) != 1 {
		t.Errorf("sessions %v, want the session under the first contact's employer Acme", r.Sessions)
	}
	if sum(r.Caseload[GroupKey{Unassigned, "Acme"}]) != 1 || sum(r.Caseload[GroupKey{Unassigned, "Beta"}]) != 1 {
		t.Errorf("caseload %v, want a and b each once", r.Caseload)
	}
	for _, id := range []string{"a", "b"} {
		mem := mustMember(t, m, id)
		if mem.Status != StatusEngaged || len(mem.Sessions) != 1 {
			t.Errorf("%s: status %q, %d sessions; want Engaged, 1", id, mem.Status, len(mem.Sessions))
		}
	}
	if row := caseloadRow(m, "a"); row.Sessions != 1 {
		t.Errorf("a listed twice on one session has %d sessions, want 1", row.Sessions)
	}

	// Listed b, a: the session's employer is Beta.
	convs = []tconv{call("1", now.Add(-time.Hour), "b", "a")}
	r = build(input{Contacts: contacts, Conversations: convs}, cfgIn(la), now).Reports()
	if sum(r.Sessions[SessionKey{Unassigned, "Beta", "Phone"}]) != 1 || sum(bands4(r.Sessions)) != 1 {
		t.Errorf("sessions %v, want one under Beta", r.Sessions)
	}
}

func TestSessions_DuplicateConversationCountsOnce(t *testing.T) {
	// The same conversation read twice (pages shifting during a read).
	now := laNoon
	c := call("7", now.Add(-time.Hour), "a")
	r := build(input{Conversations: []tconv{c, c}}, cfgIn(la), now).Reports()
	if got := sum(bands4(r.Sessions)); got != 1 {
		t.Errorf("sessions %d, want 1", got)
	}
}

func TestEmployer_TrimmedOrUnknown(t *testing.T) {
	for raw, want := range map[string]string{"": "unknown", "   ": "unknown", " Acme Ltd ": "Acme Ltd", "acme": "acme"} {
		if got := EmployerName(raw); got != want {
			t.Errorf("EmployerName(%q) = %q, want %q", raw, got, want)
		}
	}
}

var testAdmins = []Admin{{"1", "Ann"}, {"2", "Bob"}, {"3", "Bob"}, {"4", "  "}, {"5", "Cleo"}}

func TestSessionCoach_ByAdminName(t *testing.T) {
	tests := []struct {
		name    string
		admins  []Admin
		known   bool
		adminID string
		want    string
	}{
		{"empty is unassigned", testAdmins, true, "", Unassigned},
		{"0 is unassigned", testAdmins, true, "0", Unassigned},
		{"known admin by name", testAdmins, true, "1", "Ann"},
		{"two admins share a name: Name (id)", testAdmins, true, "2", "Bob (2)"},
		{"two admins share a name: the other", testAdmins, true, "3", "Bob (3)"},
		{"unknown admin by id", testAdmins, true, "99", "99"},
		{"admin without a name by id", testAdmins, true, "4", "4"},
		{"admins not readable: id", nil, false, "1", "1"},
		{"admins not readable: still unassigned for 0", nil, false, "0", Unassigned},
		{"the same admin listed twice is not a name clash", []Admin{{"1", "Ann"}, {"1", "Ann"}}, true, "1", "Ann"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CoachNamer(tt.admins, tt.known)(tt.adminID); got != tt.want {
				t.Errorf("CoachNamer(%q) = %q, want %q", tt.adminID, got, tt.want)
			}
			conv := call("1", laNoon.Add(-time.Hour), "c")
			conv.AdminID = tt.adminID
			m := build(input{Conversations: []tconv{conv}, Admins: tt.admins, AdminsKnown: tt.known}, cfgIn(la), laNoon)
			if got := m.Sessions[0].Coach; got != tt.want {
				t.Errorf("session coach = %q, want %q", got, tt.want)
			}
			if sum(m.Reports().Sessions[SessionKey{tt.want, UnknownEmployer, "Phone"}]) != 1 {
				t.Errorf("sessions report has no session under coach %q", tt.want)
			}
		})
	}
}

func TestMemberCoach_OwnerAndLastSessionModes(t *testing.T) {
	now := laNoon
	t1 := now.Add(-48 * time.Hour)
	t2 := now.Add(-24 * time.Hour)
	withAdmin := func(c tconv, admin string) tconv { c.AdminID = admin; return c }
	tests := []struct {
		name  string
		mode  string
		owner string
		convs []tconv
		want  string
	}{
		{"owner mode: owner wins over last session", MemberCoachOwner, "5",
			[]tconv{withAdmin(call("1", t2, "c"), "1")}, "Cleo"},
		{"owner mode: no owner, last session's coach", MemberCoachOwner, "",
			[]tconv{withAdmin(call("1", t1, "c"), "5"), withAdmin(session("2", t2, "Email", "c"), "1")}, "Ann"},
		{"owner mode: owner 0 is not set, last session's coach", MemberCoachOwner, "0",
			[]tconv{withAdmin(call("1", t2, "c"), "1")}, "Ann"},
		{"owner mode: unknown owner by id", MemberCoachOwner, "77", nil, "77"},
		{"owner mode: nothing is unassigned", MemberCoachOwner, "", nil, Unassigned},
		{"last_session mode: owner ignored", MemberCoachLastSession, "5",
			[]tconv{withAdmin(call("1", t2, "c"), "1")}, "Ann"},
		{"last_session mode: no session is unassigned", MemberCoachLastSession, "5", nil, Unassigned},
		{"last_session mode: last session unassigned is unassigned", MemberCoachLastSession, "",
			[]tconv{withAdmin(call("1", t1, "c"), "1"), call("2", t2, "c")}, Unassigned},
		{"tie on time: id 10 beats id 9 (numbers, not text)", MemberCoachLastSession, "",
			[]tconv{withAdmin(call("10", t2, "c"), "5"), withAdmin(call("9", t2, "c"), "1")}, "Cleo"},
		{"tie on time: id 100 beats id 99 in either order", MemberCoachLastSession, "",
			[]tconv{withAdmin(call("99", t2, "c"), "1"), withAdmin(call("100", t2, "c"), "5")}, "Cleo"},
		{"later time beats larger id", MemberCoachLastSession, "",
			[]tconv{withAdmin(call("5", t2, "c"), "1"), withAdmin(call("10", t1, "c"), "5")}, "Ann"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfgIn(la)
			cfg.MemberCoach = tt.mode
			data := input{Contacts: []Contact{{ID: "c", OwnerID: tt.owner, Registration: dateStamp(la, 2026, 1, 1)}},
				Conversations: tt.convs, Admins: testAdmins, AdminsKnown: true}
			m := build(data, cfg, now)
			if got := mustMember(t, m, "c").Coach; got != tt.want {
				t.Errorf("member coach = %q, want %q", got, tt.want)
			}
			// The participant report is grouped by the member's coach.
			if sum(m.Reports().Participants[GroupKey{tt.want, UnknownEmployer}]) != 1 {
				t.Errorf("participants report has no member under %q", tt.want)
			}
		})
	}
}

func TestCompareIDs_NumbersCompareAsNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"10", "9", 1}, {"9", "10", -1}, {"100", "99", 1}, {"42", "42", 0}, {"007", "7", 0}, {"b", "a", 1},
	}
	for _, tt := range tests {
		if got := CompareIDs(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareIDs(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLookback_SessionExactlyLookbackDaysAgoIsInOneMoreIsOut(t *testing.T) {
	now := laNoon
	for _, lookback := range []int{30, 365} {
		for _, tc := range []struct {
			days int
			in   bool
		}{{lookback, true}, {lookback + 1, false}} {
			name := "lookback_" + itoa(lookback) + "_session_" + itoa(tc.days) + "_days_ago"
			t.Run(name, func(t *testing.T) {
				cfg := cfgIn(la)
				cfg.LookbackDays = lookback
				// Registered 2 days ago: the participant band tells whether
				// the old session counted (>= 29d+) or not (2 days: 0-13d).
				c := enrolledContact("c", la, 2026, 6, 13)
				m := build(input{Contacts: []Contact{c}, Conversations: []tconv{call("1", daysBefore(now, la, tc.days, 0, 5), "c")}}, cfg, now)
				r := m.Reports()
				wantN := 0
				wantBand := "0-13d"
				if tc.in {
					wantN, wantBand = 1, "29d+"
				}
				if got := sum(bands4(r.Caseload)); got != wantN {
					t.Errorf("caseload members %d, want %d", got, wantN)
				}
				if got := sum(bands4(r.Sessions)); got != wantN {
					t.Errorf("sessions %d, want %d", got, wantN)
				}
				checkParticipantBand(t, m, "c", wantBand)
				// The engagement rule ignores the lookback (docs/reports.md).
				mem := mustMember(t, m, "c")
				want := StatusFor(tc.days, cfg)
				if want != StatusAtRisk && want != StatusUnengaged {
					t.Fatalf("setup: %s", want)
				}
				if !mem.HasLastCall || mem.Status != want {
					t.Errorf("status %q (last call %v), want %q from the old call", mem.Status, mem.HasLastCall, want)
				}
			})
		}
	}
}

func TestStatusFor_Boundaries(t *testing.T) {
	cfg := DefaultConfig()
	for d, want := range map[int]string{0: StatusEngaged, 28: StatusEngaged, 29: StatusAtRisk, 56: StatusAtRisk, 57: StatusUnengaged} {
		if got := StatusFor(d, cfg); got != want {
			t.Errorf("StatusFor(%d) = %s, want %s", d, got, want)
		}
	}
}
