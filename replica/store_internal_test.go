package replica

import (
	"testing"
)

// The store hands the rules each conversation once (the latest version
// read wins, an earlier one read after it is ignored, one no longer closed
// is not a session), each session listing a contact once, and contacts it
// lacks as Unread: the contract of engagement.Data.
func TestStore_DataListsEachSessionOnceAndEachContactOnce(t *testing.T) {
	s := newStore()
	s.applyConversations([]convRec{
		{id: "7", createdAt: 10, updatedAt: 100, kind: convSession, channel: "Phone", contactIDs: []string{"b"}},
		{id: "7", createdAt: 10, updatedAt: 50, kind: convSession, channel: "Phone", contactIDs: []string{"a"}},
		{id: "8", createdAt: 20, updatedAt: 60, kind: convSession, channel: "Email", contactIDs: []string{"a", "a", "", "b"}},
		{id: "9", createdAt: 30, updatedAt: 70, kind: convSession, channel: "Phone", contactIDs: []string{"c"}},
		{id: "9", createdAt: 30, updatedAt: 80, kind: convGone},
	}, 0)
	d := s.data()
	if len(d.Conversations) != 2 {
		t.Fatalf("%d sessions, want 2 (7 and 8; 9 was reopened)", len(d.Conversations))
	}
	ids := func(idx []int32) []string {
		var out []string
		for _, k := range idx {
			out = append(out, d.Contacts[k].ID)
		}
		return out
	}
	for _, c := range d.Conversations {
		switch got := ids(c.ContactIdx); c.ID {
		case "7":
			if len(got) != 1 || got[0] != "b" {
				t.Errorf("session 7 lists %v, want [b] (its latest version)", got)
			}
		case "8":
			if len(got) != 2 || got[0] != "a" || got[1] != "b" {
				t.Errorf("session 8 lists %v, want [a b] (a listed twice counts once)", got)
			}
		default:
			t.Errorf("unexpected session %s", c.ID)
		}
	}
	for _, c := range d.Contacts {
		if !c.Unread {
			t.Errorf("contact %s is not Unread: the store never read it", c.ID)
		}
	}
}
