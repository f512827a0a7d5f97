package engagement_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// syncNow is the "now" every sync test model is built for (noon UTC, so
// whole days ago are whole calendar days ago).
var syncNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func syncDaysAgo(n int) int64 { return syncNow.Unix() - int64(n)*86400 }

func syncStamp(unix int64) *engagement.Stamp {
	return &engagement.Stamp{Unix: unix, Day: engagement.DayOfUnix(unix, time.UTC)}
}

func syncPtr(v int64) *int64 { return &v }

// syncReadAt is the updated_at of every contact in the hand-made models.
var syncReadAt = syncDaysAgo(1)

// syncConv is a closed conversation on channel listing the contacts with
// the given ids; in these models contact "n" is Contacts[n-1].
func syncConv(id, channel string, created int64, contacts ...string) engagement.Conversation {
	c := engagement.Conversation{ID: id, CreatedAt: created, State: "closed", Channel: channel}
	for _, ct := range contacts {
		n, err := strconv.Atoi(ct)
		if err != nil {
			panic(err)
		}
		c.ContactIdx = append(c.ContactIdx, int32(n-1))
	}
	return c
}

// syncHandModel covers the cases of the plan, one contact each:
//
//	1  first write: a call 3 days ago, nothing stored
//	2  no change: stored values already right
//	3  status-only change: stored call right, status Engaged is stale
//	4  decay from a stored value: no conversation, stored call 70 days ago
//	5  stored call (2 days ago) newer than its conversations (20 days ago)
//	6  stored call 5 days in the future: ignored by the status, kept as value
//	7  two conversations on different channels: Email 5 days ago (not a
//	   call), Video Conference 30 days ago (the last call)
//	8  enrolled without a call: No Call, never written
//	9  a Chat session only, not enrolled: no status, never written
//	10 a call 60 days ago, nothing stored (sorts after 9 as a number)
func syncHandModel(t *testing.T, edit func(*engagement.Data)) *engagement.Model {
	t.Helper()
	future := syncNow.Unix() + 5*86400
	contact := func(id string, lastCall *engagement.Stamp, status string) engagement.Contact {
		return engagement.Contact{ID: id, StoredLastCall: lastCall, StoredStatus: status, UpdatedAt: syncReadAt}
	}
	data := engagement.Data{
		Contacts: []engagement.Contact{
			contact("1", nil, ""),
			contact("2", syncStamp(syncDaysAgo(10)), "Engaged"),
			contact("3", syncStamp(syncDaysAgo(40)), "Engaged"),
			contact("4", syncStamp(syncDaysAgo(70)), "At Risk"),
			contact("5", syncStamp(syncDaysAgo(2)), ""),
			contact("6", syncStamp(future), "Engaged"),
			contact("7", nil, ""),
			{ID: "8", Registration: syncStamp(syncDaysAgo(100)), UpdatedAt: syncReadAt},
			contact("9", nil, ""),
			contact("10", nil, ""),
		},
		Conversations: []engagement.Conversation{
			syncConv("101", "Phone", syncDaysAgo(3), "1"),
			syncConv("102", "Video Conference", syncDaysAgo(10), "2"),
			syncConv("103", "Phone", syncDaysAgo(40), "3"),
			syncConv("105", "Phone", syncDaysAgo(20), "5"),
			syncConv("106", "Phone", syncDaysAgo(40), "6"),
			syncConv("107", "Email", syncDaysAgo(5), "7"),
			syncConv("108", "Video Conference", syncDaysAgo(30), "7"),
			syncConv("109", "Chat", syncDaysAgo(2), "9"),
			syncConv("110", "Phone", syncDaysAgo(60), "10"),
		},
	}
	if edit != nil {
		edit(&data)
	}
	return engagement.Build(data, engagement.DefaultConfig(), syncNow)
}

// syncHandPlan is the exact plan of syncHandModel with an empty overlay.
func syncHandPlan() []engagement.Change {
	future := syncNow.Unix() + 5*86400
	return []engagement.Change{
		{ContactID: "1", LastCall: syncDaysAgo(3), Status: "Engaged"},
		{ContactID: "3", StoredLastCall: syncPtr(syncDaysAgo(40)), StoredStatus: "Engaged", LastCall: syncDaysAgo(40), Status: "At Risk"},
		{ContactID: "4", StoredLastCall: syncPtr(syncDaysAgo(70)), StoredStatus: "At Risk", LastCall: syncDaysAgo(70), Status: "Unengaged"},
		{ContactID: "5", StoredLastCall: syncPtr(syncDaysAgo(2)), LastCall: syncDaysAgo(2), Status: "Engaged"},
		{ContactID: "6", StoredLastCall: syncPtr(future), StoredStatus: "Engaged", LastCall: future, Status: "At Risk"},
		{ContactID: "7", LastCall: syncDaysAgo(30), Status: "At Risk"},
		{ContactID: "10", LastCall: syncDaysAgo(60), Status: "Unengaged"},
	}
}

// syncManyModel has n contacts "1".."n", each with one call i days ago
// (1..n, capped at 200) and nothing stored: every one is planned.
func syncManyModel(n int) *engagement.Model {
	var data engagement.Data
	for i := 1; i <= n; i++ {
		id := strconv.Itoa(i)
		data.Contacts = append(data.Contacts, engagement.Contact{ID: id, UpdatedAt: syncReadAt})
		data.Conversations = append(data.Conversations, syncConv("c"+id, "Phone", syncDaysAgo(min(i, 200)), id))
	}
	return engagement.Build(data, engagement.DefaultConfig(), syncNow)
}

// syncCall is one WriteEngagement call: both values arrive together.
type syncCall struct {
	ID       string
	LastCall int64
	Status   string
}

// syncFakeWriter records every call, fails the contacts in faults, waits
// delay per write (giving up on ctx when honourCtx), and tracks how many
// writes are in flight.
type syncFakeWriter struct {
	mu          sync.Mutex
	calls       []syncCall
	faults      map[string]error
	delay       time.Duration
	honourCtx   bool
	onStart     func(n int, id string) // n counts calls from 1
	inFlight    int
	maxInFlight int
	updatedAt   int64
}

func newSyncFakeWriter() *syncFakeWriter {
	return &syncFakeWriter{faults: map[string]error{}, updatedAt: syncNow.Unix()}
}

func (f *syncFakeWriter) WriteEngagement(ctx context.Context, id string, lastCall int64, status string) (int64, error) {
	f.mu.Lock()
	f.calls = append(f.calls, syncCall{id, lastCall, status})
	n := len(f.calls)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	fault := f.faults[id]
	f.updatedAt++
	updatedAt := f.updatedAt
	delay, honour, hook := f.delay, f.honourCtx, f.onStart
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if hook != nil {
		hook(n, id)
	}
	if delay > 0 {
		if honour {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return 0, fmt.Errorf("PUT /contacts/%s: %w", id, ctx.Err())
			}
		} else {
			time.Sleep(delay)
		}
	}
	if fault != nil {
		return 0, fault
	}
	return updatedAt, nil
}

// takeCalls returns the calls so far, sorted by contact id, and forgets them.
func (f *syncFakeWriter) takeCalls() []syncCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	slices.SortFunc(c, func(a, b syncCall) int { return engagement.CompareIDs(a.ID, b.ID) })
	return c
}

func (f *syncFakeWriter) setFaults(faults map[string]error) {
	f.mu.Lock()
	f.faults = faults
	f.mu.Unlock()
}

func syncCallsOf(changes []engagement.Change) []syncCall {
	out := []syncCall{}
	for _, c := range changes {
		out = append(out, syncCall{c.ContactID, c.LastCall, c.Status})
	}
	return out
}

func syncIDsOfCalls(calls []syncCall) []string {
	ids := []string{}
	for _, c := range calls {
		ids = append(ids, c.ID)
	}
	return ids
}

// syncClock ticks one second per reading, from a fixed start.
func syncClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 15, 6, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(time.Second)
		return now
	}
}

func syncRun(t *testing.T, r *engagement.Runner, ctx context.Context, m *engagement.Model, mode engagement.Mode) engagement.Summary {
	t.Helper()
	s, err := r.Run(ctx, m, mode)
	if err != nil {
		t.Fatalf("Run(%s): %v", mode, err)
	}
	if mode == engagement.ModeApply && s.Written+s.Failed+s.Left != s.Planned {
		t.Errorf("written %d + failed %d + left %d != planned %d", s.Written, s.Failed, s.Left, s.Planned)
	}
	return s
}

func TestRunner_PlanOfHandMadeModel(t *testing.T) {
	r := engagement.NewRunner(newSyncFakeWriter(), engagement.RunnerOptions{Now: syncClock()})
	s := syncRun(t, r, context.Background(), syncHandModel(t, nil), engagement.ModeDryRun)
	got := map[string]engagement.Change{}
	for _, c := range s.Changes {
		got[c.ContactID] = c
	}
	want := map[string]engagement.Change{}
	for _, c := range syncHandPlan() {
		want[c.ContactID] = c
	}
	for _, tc := range []struct{ name, id string }{
		{"first write", "1"},
		{"no change", "2"},
		{"status-only change", "3"},
		{"decay from a stored value", "4"},
		{"stored call newer than any conversation", "5"},
		{"stored call more than a day ahead is kept but ignored by the status", "6"},
		{"two conversations on different channels: only the call counts", "7"},
		{"enrolled without a call is never written", "8"},
		{"no status is never written", "9"},
		{"call 60 days ago", "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, gotOK := got[tc.id]
			w, wantOK := want[tc.id]
			if gotOK != wantOK || !reflect.DeepEqual(g, w) {
				t.Errorf("contact %s: planned %v (%+v), want %v (%+v)", tc.id, gotOK, g, wantOK, w)
			}
		})
	}
	// The order too: contact ids compared as numbers.
	if !reflect.DeepEqual(s.Changes, syncHandPlan()) {
		t.Errorf("plan:\n got %+v\nwant %+v", s.Changes, syncHandPlan())
	}
	if s.Planned != 7 || s.Unchanged != 1 {
		t.Errorf("planned %d unchanged %d, want 7 and 1", s.Planned, s.Unchanged)
	}
}

func TestRunner_DryRunWritesNothing(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{Now: syncClock()})
	m := syncHandModel(t, nil)
	s := syncRun(t, r, context.Background(), m, engagement.ModeDryRun)
	if calls := w.takeCalls(); len(calls) != 0 {
		t.Errorf("dry run made %d writes: %+v", len(calls), calls)
	}
	if s.Mode != engagement.ModeDryRun || s.Result != engagement.ResultSuccess || s.Written != 0 || s.Failed != 0 || s.Left != 0 {
		t.Errorf("summary %+v", s)
	}
	if !reflect.DeepEqual(s.Changes, syncHandPlan()) {
		t.Errorf("dry run changes %+v, want the whole plan", s.Changes)
	}
	if len(r.Written()) != 0 {
		t.Errorf("dry run recorded writes: %v", r.Written())
	}
	// Nothing was recorded, so a second dry run plans the same.
	if s2 := syncRun(t, r, context.Background(), m, engagement.ModeDryRun); s2.Planned != 7 {
		t.Errorf("second dry run planned %d, want 7", s2.Planned)
	}
}

func TestRunner_ApplyWritesExactlyThePlannedChanges(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{Now: syncClock()})
	m := syncHandModel(t, nil)
	s := syncRun(t, r, context.Background(), m, engagement.ModeApply)

	if got, want := w.takeCalls(), syncCallsOf(syncHandPlan()); !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n got %+v\nwant %+v", got, want)
	}
	if s.Result != engagement.ResultSuccess || s.Planned != 7 || s.Written != 7 || s.Unchanged != 1 || s.Failed != 0 || s.Left != 0 {
		t.Errorf("summary %+v", s)
	}
	if !reflect.DeepEqual(s.Changes, syncHandPlan()) {
		t.Errorf("summary changes %+v, want the whole plan", s.Changes)
	}
	var planIDs []string
	for _, c := range syncHandPlan() {
		planIDs = append(planIDs, c.ContactID)
	}
	if !reflect.DeepEqual(s.WrittenContacts, planIDs) {
		t.Errorf("written contacts %v, want every planned one in id order %v", s.WrittenContacts, planIDs)
	}
	if want := map[string]int{"Engaged": 2, "At Risk": 3, "Unengaged": 2}; !reflect.DeepEqual(s.WrittenByStatus, want) {
		t.Errorf("written by status %v, want %v", s.WrittenByStatus, want)
	}
	if want := time.Date(2026, 3, 15, 6, 0, 0, 0, time.UTC); !s.Started.Equal(want) || s.Duration != 1 {
		t.Errorf("started %s duration %v, want %s and 1s", s.Started, s.Duration, want)
	}
	if !s.DataTimestamp.Equal(syncNow) {
		t.Errorf("data timestamp %s, want %s", s.DataTimestamp, syncNow)
	}
	overlay := r.Written()
	if len(overlay) != 7 {
		t.Errorf("overlay has %d contacts, want 7: %v", len(overlay), overlay)
	}
	for _, c := range syncHandPlan() {
		o := overlay[c.ContactID]
		if o.LastCall != c.LastCall || o.Status != c.Status || o.UpdatedAt <= syncReadAt {
			t.Errorf("overlay for %s = %+v, want %d %q and a newer updated_at", c.ContactID, o, c.LastCall, c.Status)
		}
	}
}

func TestRunner_SecondApplyWritesNothing(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{Now: syncClock()})
	m := syncHandModel(t, nil)
	syncRun(t, r, context.Background(), m, engagement.ModeApply)
	w.takeCalls()

	s := syncRun(t, r, context.Background(), m, engagement.ModeApply)
	if calls := w.takeCalls(); len(calls) != 0 {
		t.Errorf("second apply wrote %+v", calls)
	}
	if s.Planned != 0 || s.Written != 0 || s.Unchanged != 8 || s.Result != engagement.ResultSuccess {
		t.Errorf("second apply summary %+v, want nothing planned and 8 unchanged", s)
	}
}

func TestRunner_RestoredOverlayPlansNothingAfterRestart(t *testing.T) {
	m := syncHandModel(t, nil)
	first := engagement.NewRunner(newSyncFakeWriter(), engagement.RunnerOptions{})
	syncRun(t, first, context.Background(), m, engagement.ModeApply)

	saved := first.Written()
	saved["1"] = engagement.Written{} // Written returns a copy
	if first.Written()["1"].Status == "" {
		t.Fatal("changing the map from Written changed the runner's overlay")
	}

	w := newSyncFakeWriter()
	restarted := engagement.NewRunner(w, engagement.RunnerOptions{})
	restarted.RestoreWritten(first.Written())
	s := syncRun(t, restarted, context.Background(), m, engagement.ModeApply)
	if calls := w.takeCalls(); len(calls) != 0 || s.Planned != 0 {
		t.Errorf("after restore: planned %d, wrote %+v; want nothing", s.Planned, calls)
	}
}

func TestRunner_HandEditReadAfterTheWriteIsCorrected(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{})
	syncRun(t, r, context.Background(), syncHandModel(t, nil), engagement.ModeApply)
	w.takeCalls()
	wrote := r.Written()

	// A later read: contact 3 was edited by hand (status Unengaged), contact
	// 1 was read back with what the sync wrote. Both are newer than the write.
	m := syncHandModel(t, func(d *engagement.Data) {
		for i := range d.Contacts {
			c := &d.Contacts[i]
			switch c.ID {
			case "3":
				c.StoredStatus, c.UpdatedAt = "Unengaged", wrote["3"].UpdatedAt+100
			case "1":
				c.StoredLastCall, c.StoredStatus, c.UpdatedAt = syncStamp(wrote["1"].LastCall), wrote["1"].Status, wrote["1"].UpdatedAt+100
			}
		}
	})
	s := syncRun(t, r, context.Background(), m, engagement.ModeApply)
	want := []syncCall{{"3", syncDaysAgo(40), "At Risk"}}
	if got := w.takeCalls(); !reflect.DeepEqual(got, want) {
		t.Errorf("writes %+v, want only the hand-edited contact %+v", got, want)
	}
	if s.Planned != 1 || s.Unchanged != 7 {
		t.Errorf("planned %d unchanged %d, want 1 and 7", s.Planned, s.Unchanged)
	}
	if _, ok := r.Written()["1"]; ok {
		t.Error("overlay entry of contact 1 was kept after a newer read replaced it")
	}
}

func TestRunner_MaxWritesLeavesTheRestForTheNextRun(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{MaxWrites: 6})
	m := syncManyModel(10)
	plan, _ := m.Plan(nil)

	s := syncRun(t, r, context.Background(), m, engagement.ModeApply)
	if got, want := w.takeCalls(), syncCallsOf(plan[:6]); !reflect.DeepEqual(got, want) {
		t.Errorf("first run wrote\n %+v\nwant the first 6 of the plan\n %+v", got, want)
	}
	if s.Planned != 10 || s.Written != 6 || s.Left != 4 || s.Result != engagement.ResultSuccess {
		t.Errorf("first run summary %+v", s)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "SYNC_MAX_WRITES") || !strings.Contains(s.Notes[0], "4 are left") {
		t.Errorf("notes %q do not say that 4 are left by SYNC_MAX_WRITES", s.Notes)
	}

	s = syncRun(t, r, context.Background(), m, engagement.ModeApply)
	if got, want := w.takeCalls(), syncCallsOf(plan[6:]); !reflect.DeepEqual(got, want) {
		t.Errorf("next run wrote\n %+v\nwant exactly the rest\n %+v", got, want)
	}
	if s.Planned != 4 || s.Written != 4 || s.Left != 0 || len(s.Notes) != 0 {
		t.Errorf("next run summary %+v", s)
	}
}

func TestRunner_FailedWritesAreCountedAndRetriedNextRun(t *testing.T) {
	w := newSyncFakeWriter()
	w.setFaults(map[string]error{
		"3": errors.New("PUT /contacts/3: 500 after 3 attempts"),
		"7": errors.New("PUT /contacts/7: 404 contact not found"),
	})
	r := engagement.NewRunner(w, engagement.RunnerOptions{})
	m := syncHandModel(t, nil)

	s := syncRun(t, r, context.Background(), m, engagement.ModeApply)
	if got, want := w.takeCalls(), syncCallsOf(syncHandPlan()); !reflect.DeepEqual(got, want) {
		t.Errorf("first run attempted %+v, want every planned contact", got)
	}
	wantFailures := []engagement.Failure{
		{ContactID: "3", Error: "PUT /contacts/3: 500 after 3 attempts"},
		{ContactID: "7", Error: "PUT /contacts/7: 404 contact not found"},
	}
	if s.Failed != 2 || s.Written != 5 || s.Left != 0 || s.Result != engagement.ResultPartial || !reflect.DeepEqual(s.Failures, wantFailures) {
		t.Errorf("first run summary %+v", s)
	}
	for _, id := range s.WrittenContacts {
		if id == "3" || id == "7" {
			t.Errorf("failed contact %s listed as written", id)
		}
	}
	if _, ok := r.Written()["3"]; ok {
		t.Error("failed write of contact 3 recorded in the overlay")
	}

	w.setFaults(nil)
	s = syncRun(t, r, context.Background(), m, engagement.ModeApply)
	want := []syncCall{{"3", syncDaysAgo(40), "At Risk"}, {"7", syncDaysAgo(30), "At Risk"}}
	if got := w.takeCalls(); !reflect.DeepEqual(got, want) {
		t.Errorf("next run wrote %+v, want exactly the failed ones %+v", got, want)
	}
	if s.Planned != 2 || s.Written != 2 || s.Failed != 0 || s.Result != engagement.ResultSuccess {
		t.Errorf("next run summary %+v", s)
	}
}

func TestRunner_EveryWriteFailingIsAFailedRun(t *testing.T) {
	w := newSyncFakeWriter()
	faults := map[string]error{}
	for _, c := range syncHandPlan() {
		faults[c.ContactID] = errors.New("403 missing scope")
	}
	w.setFaults(faults)
	r := engagement.NewRunner(w, engagement.RunnerOptions{})
	s := syncRun(t, r, context.Background(), syncHandModel(t, nil), engagement.ModeApply)
	if s.Result != engagement.ResultFailed || s.Written != 0 || s.Failed != 7 || len(s.Failures) != 7 || len(s.WrittenContacts) != 0 {
		t.Errorf("summary %+v", s)
	}
	if len(r.Written()) != 0 {
		t.Errorf("overlay %v after every write failed", r.Written())
	}
}

func TestRunner_CancelHalfWayLeavesTheRestForTheNextRun(t *testing.T) {
	for _, tc := range []struct {
		name      string
		honourCtx bool // in-flight writes fail on cancellation instead of finishing
	}{
		{"in-flight writes finish", false},
		{"in-flight writes fail", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := syncManyModel(20)
			plan, _ := m.Plan(nil)
			byID := map[string]syncCall{}
			for _, c := range syncCallsOf(plan) {
				byID[c.ID] = c
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newSyncFakeWriter()
			w.delay, w.honourCtx = 5*time.Millisecond, tc.honourCtx
			w.onStart = func(n int, _ string) {
				if n == 5 {
					cancel()
				}
			}
			r := engagement.NewRunner(w, engagement.RunnerOptions{Concurrency: 2})
			s := syncRun(t, r, ctx, m, engagement.ModeApply)

			calls := w.takeCalls()
			for _, c := range calls {
				if c != byID[c.ID] {
					t.Errorf("write %+v differs from the plan %+v", c, byID[c.ID])
				}
			}
			// A write cut short by the cancellation is neither written nor
			// failed: it is left for the next run.
			if s.Written > len(calls) || s.Failed != 0 || s.Written+s.Left != 20 {
				t.Errorf("written %d, failed %d, left %d after %d writes made; want the cut-short ones left, none failed", s.Written, s.Failed, s.Left, len(calls))
			}
			if len(calls) < 5 || len(calls) > 6 || s.Left < 20-len(calls) {
				t.Errorf("%d writes made, %d left; want 5 or 6 made (cancelled as the 5th started; the 6th may have started on the other worker just before), the rest left", len(calls), s.Left)
			}
			if s.Result != engagement.ResultPartial || s.Written < 3 {
				t.Errorf("result %q with %d written, want partial with at least the 3 writes done before the cancellation", s.Result, s.Written)
			}
			if !tc.honourCtx && s.Failed != 0 {
				t.Errorf("failed %d, want 0 when in-flight writes finish", s.Failed)
			}
			if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "context canceled") || !strings.Contains(s.Notes[0], "left for the next run") {
				t.Errorf("notes %q do not say the run was stopped", s.Notes)
			}
			if len(r.Written()) != s.Written {
				t.Errorf("overlay has %d contacts, want the %d written", len(r.Written()), s.Written)
			}

			// The next run writes exactly what was not written.
			w.delay, w.onStart = 0, nil
			var rest []syncCall
			overlay := r.Written()
			for _, c := range syncCallsOf(plan) {
				if _, ok := overlay[c.ID]; !ok {
					rest = append(rest, c)
				}
			}
			s2 := syncRun(t, r, context.Background(), m, engagement.ModeApply)
			if got := w.takeCalls(); !reflect.DeepEqual(got, rest) {
				t.Errorf("next run wrote %v, want exactly %v", syncIDsOfCalls(got), syncIDsOfCalls(rest))
			}
			if s2.Written != s.Left+s.Failed || s2.Result != engagement.ResultSuccess {
				t.Errorf("next run summary %+v", s2)
			}
		})
	}
}

func TestRunner_CancelledBeforeStartWritesNothingAndFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{})
	s := syncRun(t, r, ctx, syncHandModel(t, nil), engagement.ModeApply)
	if calls := w.takeCalls(); len(calls) != 0 {
		t.Errorf("wrote %+v with a cancelled context", calls)
	}
	if s.Result != engagement.ResultFailed || s.Left != 7 || s.Written != 0 || len(s.Notes) != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestRunner_SecondRunDuringARunIsBusy(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	w := newSyncFakeWriter()
	w.onStart = func(n int, _ string) {
		if n == 1 {
			close(entered)
			<-release
		}
	}
	clock := syncClock()
	r := engagement.NewRunner(w, engagement.RunnerOptions{Concurrency: 1, Now: clock})
	m := syncHandModel(t, nil)

	done := make(chan engagement.Summary)
	go func() {
		s, err := r.Run(context.Background(), m, engagement.ModeApply)
		if err != nil {
			t.Errorf("first run: %v", err)
		}
		done <- s
	}()
	<-entered

	for _, mode := range []engagement.Mode{engagement.ModeApply, engagement.ModeDryRun} {
		_, err := r.Run(context.Background(), m, mode)
		var busy *engagement.BusyError
		if !errors.As(err, &busy) || !errors.Is(err, engagement.ErrBusy) {
			t.Fatalf("%s during a run: err %v, want *BusyError", mode, err)
		}
		if want := time.Date(2026, 3, 15, 6, 0, 0, 0, time.UTC); !busy.Started.Equal(want) {
			t.Errorf("busy since %s, want the running run's start %s", busy.Started, want)
		}
	}
	close(release)
	first := <-done
	if first.Written != 7 {
		t.Errorf("first run wrote %d, want 7", first.Written)
	}
	if _, err := r.Run(context.Background(), m, engagement.ModeApply); err != nil {
		t.Errorf("run after the first finished: %v", err)
	}
}

func TestRunner_ConcurrencyBoundRespected(t *testing.T) {
	for _, tc := range []struct {
		name        string
		concurrency int
		want        int
	}{
		{"one", 1, 1},
		{"three", 3, 3},
		{"default is 4", 0, engagement.DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSyncFakeWriter()
			w.delay = time.Millisecond
			// The first tc.want writes wait (up to 2s) until tc.want are in
			// flight together, so the bound is reached whenever it is allowed.
			var arrived atomic.Int32
			full := make(chan struct{})
			w.onStart = func(n int, _ string) {
				if n > tc.want {
					return
				}
				if arrived.Add(1) == int32(tc.want) {
					close(full)
				}
				select {
				case <-full:
				case <-time.After(2 * time.Second):
				}
			}
			r := engagement.NewRunner(w, engagement.RunnerOptions{Concurrency: tc.concurrency})
			s := syncRun(t, r, context.Background(), syncManyModel(30), engagement.ModeApply)
			if s.Written != 30 {
				t.Errorf("wrote %d, want 30", s.Written)
			}
			w.mu.Lock()
			maxSeen := w.maxInFlight
			w.mu.Unlock()
			if maxSeen > tc.want {
				t.Errorf("%d writes in flight at once, bound is %d", maxSeen, tc.want)
			}
			if maxSeen != tc.want {
				t.Errorf("at most %d writes in flight, want the bound %d reached", maxSeen, tc.want)
			}
		})
	}
}

func TestRunner_ModeOffAndUnknownModesDoNotRun(t *testing.T) {
	w := newSyncFakeWriter()
	r := engagement.NewRunner(w, engagement.RunnerOptions{})
	m := syncHandModel(t, nil)
	if _, err := r.Run(context.Background(), m, engagement.ModeOff); !errors.Is(err, engagement.ErrOff) {
		t.Errorf("mode off: err %v, want ErrOff", err)
	}
	if _, err := r.Run(context.Background(), m, "yes"); err == nil || !strings.Contains(err.Error(), `"yes"`) {
		t.Errorf("unknown mode: err %v", err)
	}
	if _, err := engagement.NewRunner(nil, engagement.RunnerOptions{}).Run(context.Background(), m, engagement.ModeApply); err == nil {
		t.Error("apply without a writer: no error")
	}
	if calls := w.takeCalls(); len(calls) != 0 {
		t.Errorf("wrote %+v", calls)
	}
}

func TestSyncSummary_JSONFieldNames(t *testing.T) {
	w := newSyncFakeWriter()
	w.setFaults(map[string]error{"3": errors.New("boom")})
	r := engagement.NewRunner(w, engagement.RunnerOptions{Now: syncClock()})
	s := syncRun(t, r, context.Background(), syncHandModel(t, nil), engagement.ModeApply)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "result", "started", "duration_seconds", "data_timestamp", "planned", "written",
		"unchanged", "failed", "left_for_next_run", "changes", "failures", "written_by_status"} {
		if _, ok := got[k]; !ok {
			t.Errorf("summary JSON lacks %q: %s", k, b)
		}
	}
	change := got["changes"].([]any)[0].(map[string]any)
	want := map[string]any{"contact_id": "1", "stored_last_call": nil, "stored_status": "", "last_call": float64(syncDaysAgo(3)), "status": "Engaged"}
	if !reflect.DeepEqual(change, want) {
		t.Errorf("change JSON %v, want %v", change, want)
	}
	failure := got["failures"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(failure, map[string]any{"contact_id": "3", "error": "boom"}) {
		t.Errorf("failure JSON %v", failure)
	}
}
