package engagement

import (
	"testing"
	"time"
)

func TestPlan_WritesOnlyContactsWhoseStoredValuesDiffer(t *testing.T) {
	// now 2026-03-15 12:00 UTC; dayAgo(n) is 10:00 UTC n calendar days
	// before. Status by days since: <=28 Engaged, <=56 At Risk, else
	// Unengaged (docs/reports.md).
	now := at(utc, 2026, 3, 15, 12, 0)
	dayAgo := func(n int) int64 { return daysBefore(now, utc, n, 10, 0).Unix() }
	stamp := func(unix int64) *Stamp { return instant(time.Unix(unix, 0), utc) }
	ahead := now.Add(72 * time.Hour).Unix()
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		contact   Contact
		convs     []tconv
		written   map[string]Written
		want      *Change // nil: not planned
		unchanged int
	}{
		{"first write: nothing stored",
			Contact{ID: "c"}, []tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil,
			&Change{ContactID: "c", LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"no change: stored values already right",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(3)), StoredStatus: StatusEngaged},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil, nil, 1},
		{"status-only change",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(3)), StoredStatus: StatusAtRisk},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(3)), StoredStatus: StatusAtRisk, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"decay: stored Engaged, call now 30 days ago is At Risk",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(30)), StoredStatus: StatusEngaged},
			[]tconv{call("1", time.Unix(dayAgo(30), 0), "c")}, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(30)), StoredStatus: StatusEngaged, LastCall: dayAgo(30), Status: StatusAtRisk}, 0},
		{"decay from the stored value alone (no conversation read)",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(30)), StoredStatus: StatusEngaged}, nil, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(30)), StoredStatus: StatusEngaged, LastCall: dayAgo(30), Status: StatusAtRisk}, 0},
		{"decay: 57 days is Unengaged",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(57)), StoredStatus: StatusAtRisk}, nil, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(57)), StoredStatus: StatusAtRisk, LastCall: dayAgo(57), Status: StatusUnengaged}, 0},
		{"stored call newer than any conversation, status right: unchanged",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(3)), StoredStatus: StatusEngaged},
			[]tconv{call("1", time.Unix(dayAgo(40), 0), "c")}, nil, nil, 1},
		{"stored call newer than any conversation, status wrong: keeps the stored call",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(3)), StoredStatus: StatusUnengaged},
			[]tconv{call("1", time.Unix(dayAgo(40), 0), "c")}, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(3)), StoredStatus: StatusUnengaged, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"conversation newer than stored call moves it forward",
			Contact{ID: "c", StoredLastCall: stamp(dayAgo(40)), StoredStatus: StatusAtRisk},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil,
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(40)), StoredStatus: StatusAtRisk, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"invalid stored call (nil) is replaced",
			Contact{ID: "c", StoredStatus: StatusEngaged},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil,
			&Change{ContactID: "c", StoredStatus: StatusEngaged, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"No Call is never planned",
			Contact{ID: "c", Registration: dateStamp(utc, 2026, 1, 1), StoredStatus: StatusEngaged}, nil, nil, nil, 0},
		{"no call and not enrolled is never planned",
			Contact{ID: "c", StoredStatus: StatusEngaged},
			[]tconv{session("1", time.Unix(dayAgo(1), 0), "Email", "c")}, nil, nil, 0},
		{"stored call more than a day ahead never moves backwards",
			Contact{ID: "c", StoredLastCall: stamp(ahead)},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil,
			&Change{ContactID: "c", StoredLastCall: i64(ahead), LastCall: ahead, Status: StatusEngaged}, 0},
		{"stored call more than a day ahead: status from conversations, unchanged when right",
			Contact{ID: "c", StoredLastCall: stamp(ahead), StoredStatus: StatusAtRisk},
			[]tconv{call("1", time.Unix(dayAgo(40), 0), "c")}, nil, nil, 1},
		{"written overlay honoured at the same updated_at",
			Contact{ID: "c", UpdatedAt: 1000},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")},
			map[string]Written{"c": {LastCall: dayAgo(3), Status: StatusEngaged, UpdatedAt: 1000}}, nil, 1},
		{"written overlay honoured when newer than the read",
			Contact{ID: "c", UpdatedAt: 900, StoredStatus: StatusUnengaged},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")},
			map[string]Written{"c": {LastCall: dayAgo(3), Status: StatusEngaged, UpdatedAt: 1000}}, nil, 1},
		{"written overlay ignored when the contact was read later (hand edit)",
			Contact{ID: "c", UpdatedAt: 1100, StoredLastCall: stamp(dayAgo(3)), StoredStatus: StatusUnengaged},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")},
			map[string]Written{"c": {LastCall: dayAgo(3), Status: StatusEngaged, UpdatedAt: 1000}},
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(3)), StoredStatus: StatusUnengaged, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"hand edit moving the call backwards is corrected",
			Contact{ID: "c", UpdatedAt: 1100, StoredLastCall: stamp(dayAgo(40)), StoredStatus: StatusAtRisk},
			[]tconv{call("1", time.Unix(dayAgo(3), 0), "c")},
			map[string]Written{"c": {LastCall: dayAgo(3), Status: StatusEngaged, UpdatedAt: 1000}},
			&Change{ContactID: "c", StoredLastCall: i64(dayAgo(40)), StoredStatus: StatusAtRisk, LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"written call newer than the conversations never moves backwards",
			Contact{ID: "c", UpdatedAt: 1000},
			[]tconv{call("1", time.Unix(dayAgo(5), 0), "c")},
			map[string]Written{"c": {LastCall: dayAgo(2), Status: StatusEngaged, UpdatedAt: 1000}}, nil, 1},
		{"written overlay for another contact does not apply",
			Contact{ID: "c"}, []tconv{call("1", time.Unix(dayAgo(3), 0), "c")},
			map[string]Written{"d": {LastCall: dayAgo(3), Status: StatusEngaged, UpdatedAt: 1000}},
			&Change{ContactID: "c", LastCall: dayAgo(3), Status: StatusEngaged}, 0},
		{"contact listed on a call but not read is never written",
			Contact{ID: "other"}, []tconv{call("1", time.Unix(dayAgo(3), 0), "c")}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(input{Contacts: []Contact{tt.contact}, Conversations: tt.convs}, cfgIn(utc), now)
			changes, unchanged := m.Plan(tt.written)
			if unchanged != tt.unchanged {
				t.Errorf("unchanged = %d, want %d", unchanged, tt.unchanged)
			}
			if tt.want == nil {
				if len(changes) != 0 {
					t.Errorf("planned %+v, want nothing", changes)
				}
				return
			}
			if len(changes) != 1 {
				t.Fatalf("planned %d changes, want 1", len(changes))
			}
			got := changes[0]
			if got.ContactID != tt.want.ContactID || got.LastCall != tt.want.LastCall || got.Status != tt.want.Status ||
				got.StoredStatus != tt.want.StoredStatus || !sameInt64Ptr(got.StoredLastCall, tt.want.StoredLastCall) {
				t.Errorf("planned %s, want %s", fmtChange(got), fmtChange(*tt.want))
			}
			if !Writable(got.Status) {
				t.Errorf("planned status %q is not writable", got.Status)
			}
		})
	}
}

func TestPlan_SecondRunAfterWritingPlansNothing(t *testing.T) {
	now := at(utc, 2026, 3, 15, 12, 0)
	data := input{
		Contacts: []Contact{{ID: "a", UpdatedAt: 10}, {ID: "b", UpdatedAt: 10, StoredStatus: StatusUnengaged}},
		Conversations: []tconv{
			call("1", now.Add(-24*time.Hour), "a"),
			call("2", now.Add(-40*24*time.Hour), "b"),
		},
	}
	m := build(data, cfgIn(utc), now)
	changes, _ := m.Plan(nil)
	if len(changes) != 2 {
		t.Fatalf("first run planned %d, want 2", len(changes))
	}
	written := map[string]Written{}
	for _, c := range changes {
		written[c.ContactID] = Written{LastCall: c.LastCall, Status: c.Status, UpdatedAt: 20}
	}
	changes, unchanged := m.Plan(written)
	if len(changes) != 0 || unchanged != 2 {
		t.Errorf("second run planned %v (unchanged %d), want nothing (2)", changes, unchanged)
	}
}

func TestPlan_OrderedByContactIDAsNumbers(t *testing.T) {
	now := at(utc, 2026, 3, 15, 12, 0)
	var data input
	for _, id := range []string{"100", "9", "10", "abc"} {
		data.Contacts = append(data.Contacts, Contact{ID: id})
		data.Conversations = append(data.Conversations, call("c"+id, now.Add(-time.Hour), id))
	}
	changes, _ := build(data, cfgIn(utc), now).Plan(nil)
	var got []string
	for _, c := range changes {
		got = append(got, c.ContactID)
	}
	want := []string{"9", "10", "100", "abc"}
	if len(got) != len(want) {
		t.Fatalf("planned %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("planned %v, want %v", got, want)
		}
	}
}

func sameInt64Ptr(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func fmtChange(c Change) string {
	stored := "nil"
	if c.StoredLastCall != nil {
		stored = time.Unix(*c.StoredLastCall, 0).UTC().Format(time.RFC3339)
	}
	return c.ContactID + " stored(" + stored + ", " + c.StoredStatus + ") -> (" +
		time.Unix(c.LastCall, 0).UTC().Format(time.RFC3339) + ", " + c.Status + ")"
}
