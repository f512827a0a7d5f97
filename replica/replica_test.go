package replica_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/replica"
)

const token = "tok_replica_test_3e9a"

func at(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func newReplica(t *testing.T, ws *intercomtest.Workspace) *replica.Replica {
	t.Helper()
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: token})
	t.Cleanup(srv.Close)
	c, err := intercom.New(srv.URL(), token, "2.10", intercom.WithRetry(1, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return replica.New(c, replica.Settings{
		Rules:                  engagement.DefaultConfig(),
		ChannelAttribute:       intercomtest.AttrChannel,
		EmployerAttribute:      intercomtest.AttrEmployer,
		RegistrationAttributes: []string{intercomtest.AttrRegistrationDate},
		LastCallAttribute:      intercomtest.AttrLastCoachingCall,
		StatusAttribute:        intercomtest.AttrEngagementStatus,
		RefreshConcurrency:     2,
		FullRefreshInterval:    24 * time.Hour,
	}, slog.New(slog.DiscardHandler))
}

func session(id string, created time.Time, contact string) intercom.Conversation {
	ch, _ := json.Marshal("Phone")
	c := intercom.Conversation{ID: id, State: "closed", CreatedAt: created.Unix(), UpdatedAt: created.Unix() + 3600,
		AdminAssigneeID: "101", CustomAttributes: intercom.Attributes{intercomtest.AttrChannel: ch}}
	c.Contacts.Contacts = []intercom.ContactRef{{ID: contact}}
	return c
}

// A first refresh reads in full; the next one, with nothing changed in
// Intercom, brings no record (Changed false) and hands on the same data;
// a new session makes the one after it changed.
func TestRefresh_FullThenIncrementalStatsSayWhetherAnythingChanged(t *testing.T) {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Alice Coach"})
	reg, _ := json.Marshal(at(2026, 1, 10, 9).Unix())
	ws.AddContact(intercom.Contact{ID: "c1", Role: "user", CreatedAt: at(2025, 1, 1, 0).Unix(), UpdatedAt: at(2026, 1, 1, 0).Unix(),
		CustomAttributes: intercom.Attributes{intercomtest.AttrRegistrationDate: reg}})
	ws.AddConversation(session("1001", at(2026, 3, 10, 10), "c1"))
	rep := newReplica(t, ws)
	ctx := context.Background()
	now := at(2026, 3, 15, 12)

	data, st, err := rep.Refresh(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full || !st.Changed || st.Reason != "no data read yet" {
		t.Errorf("first refresh: full %v changed %v reason %q; want a full read, changed, \"no data read yet\"", st.Full, st.Changed, st.Reason)
	}
	if len(data.Conversations) != 1 || len(data.Contacts) != 1 || st.Contacts != 1 || !st.Now.Equal(now) {
		t.Fatalf("first refresh: %d sessions, %d contacts (stats %d), now %v; want 1, 1, 1, %v",
			len(data.Conversations), len(data.Contacts), st.Contacts, st.Now, now)
	}

	data, st, err = rep.Refresh(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Full || st.Changed || st.ConversationsRead != 0 || st.ContactsRead != 0 {
		t.Errorf("nothing changed: full %v changed %v, %d conversations and %d contacts read; want incremental, unchanged, 0, 0",
			st.Full, st.Changed, st.ConversationsRead, st.ContactsRead)
	}
	if len(data.Conversations) != 1 || len(data.Contacts) != 1 {
		t.Errorf("nothing changed: %d sessions, %d contacts; want 1, 1", len(data.Conversations), len(data.Contacts))
	}

	ws.AddConversation(session("1002", now.Add(90*time.Second), "c1"))
	data, st, err = rep.Refresh(ctx, now.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Full || !st.Changed || st.ConversationsRead != 1 || len(data.Conversations) != 2 {
		t.Errorf("a new session: full %v changed %v, %d read, %d sessions; want incremental, changed, 1, 2",
			st.Full, st.Changed, st.ConversationsRead, len(data.Conversations))
	}
}

// Encode and Restore carry the copy over: a restored copy hands on the
// same data, and its next refresh is incremental.
func TestRestore_EncodedCopyIsTheSameDataAndTheNextRefreshIsIncremental(t *testing.T) {
	ws := intercomtest.NewWorkspace("UTC")
	ws.AddCoachingAttributes()
	ws.AddAdmin(intercom.Admin{ID: "101", Name: "Alice Coach"})
	ws.AddContact(intercom.Contact{ID: "c1", Role: "user", CreatedAt: at(2025, 1, 1, 0).Unix(), UpdatedAt: at(2026, 1, 1, 0).Unix()})
	ws.AddConversation(session("1001", at(2026, 3, 10, 10), "c1"))
	now := at(2026, 3, 15, 12)
	first := newReplica(t, ws)
	if _, _, err := first.Refresh(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	end := now.Add(2 * time.Second)
	blob := first.Encode(end)

	second := newReplica(t, ws)
	data, st, err := second.Restore(blob)
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Conversations) != 1 || data.Conversations[0].ID != "1001" || len(data.Contacts) != 1 ||
		!st.Now.Equal(now) || !st.RefreshEnd.Equal(end) {
		t.Errorf("restored: %d sessions, %d contacts, now %v, end %v; want session 1001, 1 contact, %v, %v",
			len(data.Conversations), len(data.Contacts), st.Now, st.RefreshEnd, now, end)
	}
	_, st, err = second.Refresh(context.Background(), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st.Full {
		t.Errorf("the refresh after a restore read in full (%s)", st.Reason)
	}
}
