package intercomtest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

// A change made at t is found by its new values from t+lag on; until then
// the search shows the record as it was (a new record: not at all), while
// reading it by id sees the change at once.
func TestSearchLag_ChangeSeenOnlyAfterTheLag(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 3) // updated at base+100, +200, +300
	ws.AddContact(intercom.Contact{ID: "u1", Role: "user", CreatedAt: base, UpdatedAt: base})
	clk := newClock(time.Unix(base+1000, 0))
	s := startServer(t, ws, Options{SearchLag: 20 * time.Second, Now: clk.Now})

	changedAt := base + 1000
	ws.UpdateConversation("2", func(c *intercom.Conversation) { c.State = "open"; c.UpdatedAt = changedAt })
	ws.AddConversation(conv("4", changedAt, changedAt, "closed", "Phone", "u1"))
	ws.SetContactAttribute("u1", "Employer", "Acme", changedAt)

	recent := filter("updated_at", ">", base+500)
	closed := filter("state", "=", "closed")

	// 19 s after the change: the old version of "2", no "4", the old u1.
	clk.Set(time.Unix(changedAt+19, 0))
	assert.Empty(t, searchConversations(t, s, recent, 150, "").Conversations)
	p := searchConversations(t, s, closed, 150, "")
	assert.ElementsMatch(t, []string{"1", "2", "3"}, convIDs(p.Conversations))
	assert.Equal(t, 3, p.TotalCount)
	c := searchContacts(t, s, filter("id", "=", "u1"), 0, "")
	require.Len(t, c.Data, 1)
	assert.Equal(t, base, c.Data[0].UpdatedAt)
	resp, body := call(t, s, http.MethodGet, "/contacts/u1", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var direct intercom.Contact
	require.NoError(t, json.Unmarshal(body, &direct))
	assert.Equal(t, changedAt, direct.UpdatedAt, "reading by id sees the change at once")

	// 20 s after: the new versions.
	clk.Set(time.Unix(changedAt+20, 0))
	p = searchConversations(t, s, recent, 150, "")
	assert.ElementsMatch(t, []string{"2", "4"}, convIDs(p.Conversations))
	p = searchConversations(t, s, closed, 150, "")
	assert.ElementsMatch(t, []string{"1", "3", "4"}, convIDs(p.Conversations))
	assert.Equal(t, 3, p.TotalCount)
	c = searchContacts(t, s, filter("id", "=", "u1"), 0, "")
	require.Len(t, c.Data, 1)
	assert.Equal(t, changedAt, c.Data[0].UpdatedAt)
}

// A record changed again while its first change is unseen stays as it was
// until the lag has passed after the latest change.
func TestSearchLag_CountsFromTheLatestChange(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 1)
	clk := newClock(time.Unix(base+1000, 0))
	s := startServer(t, ws, Options{SearchLag: 20 * time.Second, Now: clk.Now})
	ws.UpdateConversation("1", func(c *intercom.Conversation) { c.UpdatedAt = base + 1000 })
	clk.Set(time.Unix(base+1010, 0))
	ws.UpdateConversation("1", func(c *intercom.Conversation) { c.UpdatedAt = base + 1010 })
	clk.Set(time.Unix(base+1025, 0))
	p := searchConversations(t, s, filter("updated_at", ">", base+500), 150, "")
	assert.Empty(t, p.Conversations)
	clk.Set(time.Unix(base+1030, 0))
	p = searchConversations(t, s, filter("updated_at", ">", base+500), 150, "")
	require.Len(t, p.Conversations, 1)
	assert.Equal(t, base+1010, p.Conversations[0].UpdatedAt)
}
