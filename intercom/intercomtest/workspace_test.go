package intercomtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

func TestWorkspace_SetContactAttributeIsAHandEditSeenBySearch(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", UpdatedAt: base})
	ws.AddContact(intercom.Contact{ID: "c2", UpdatedAt: base})
	s := startServer(t, ws, Options{})
	edit := base + 3*86400
	ws.SetContactAttribute("c1", AttrEngagementStatus, "Unengaged", edit)
	ws.SetContactAttribute("c2", AttrEmployer, nil, 0)

	c, ok := ws.Contact("c1")
	require.True(t, ok)
	assert.Equal(t, edit, c.UpdatedAt)
	assert.JSONEq(t, `"Unengaged"`, string(c.CustomAttributes[AttrEngagementStatus]))
	c2, _ := ws.Contact("c2")
	assert.Equal(t, base, c2.UpdatedAt, "0 leaves updated_at alone")
	assert.JSONEq(t, `null`, string(c2.CustomAttributes[AttrEmployer]))

	p := searchContacts(t, s, filter("updated_at", ">", base+86400), 0, "")
	assert.Equal(t, []string{"c1"}, contactIDs(p.Data))
	_, body := call(t, s, http.MethodGet, "/contacts/c1", nil)
	assert.Contains(t, string(body), `"Engagement Status":"Unengaged"`)

	assert.Panics(t, func() { ws.SetContactAttribute("nope", AttrEmployer, "x", 0) })
}

func TestWorkspace_ContactCopiesAreIndependent(t *testing.T) {
	ws := smallWorkspace("UTC")
	attrs := intercom.Attributes{AttrEmployer: json.RawMessage(`"Acme"`)}
	ws.AddContact(intercom.Contact{ID: "c1", CustomAttributes: attrs})
	attrs[AttrEmployer] = json.RawMessage(`"Changed"`)
	c, _ := ws.Contact("c1")
	assert.JSONEq(t, `"Acme"`, string(c.CustomAttributes[AttrEmployer]), "AddContact copies")
	c.CustomAttributes[AttrEmployer] = json.RawMessage(`"Changed"`)
	again, _ := ws.Contact("c1")
	assert.JSONEq(t, `"Acme"`, string(again.CustomAttributes[AttrEmployer]), "Contact returns a copy")
}

func TestWorkspace_AddReplacesByIDAndDeleteRemoves(t *testing.T) {
	ws := smallWorkspace("UTC")
	ws.AddContact(intercom.Contact{ID: "c1", Email: "old@example.com", UpdatedAt: base})
	ws.AddContact(intercom.Contact{ID: "c2", UpdatedAt: base})
	ws.AddContact(intercom.Contact{ID: "c1", Email: "new@example.com", UpdatedAt: base + 10})
	ws.AddConversation(conv("1", base, base, "closed", "Phone", "c1"))
	ws.AddConversation(conv("1", base, base+5, "open", "Chat", "c2"))
	ws.AddConversation(conv("2", base, base+1, "closed", "Email", "c2"))
	assert.Equal(t, []string{"c1", "c2"}, contactIDs(ws.Contacts()))
	assert.Equal(t, "new@example.com", ws.Contacts()[0].Email)
	got, ok := ws.Conversation("1")
	require.True(t, ok)
	assert.Equal(t, "open", got.State)
	assert.Equal(t, []intercom.ContactRef{{ID: "c2"}}, got.Contacts.Contacts)

	s := startServer(t, ws, Options{})
	ws.DeleteContact("c1")
	ws.DeleteConversation("2")
	ws.DeleteConversation("nope") // no-op
	resp, _ := call(t, s, http.MethodGet, "/contacts/c1", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, []string{"c2"}, contactIDs(searchContacts(t, s, filter("updated_at", ">", 0), 0, "").Data))
	assert.Equal(t, []string{"1"}, convIDs(searchConversations(t, s, filter("updated_at", ">", 0), 0, "").Conversations))
	assert.Equal(t, 1, ws.NumContacts())
	assert.Equal(t, 1, ws.NumConversations())
}

func TestWorkspace_UpdateConversationReopensAndMovesIt(t *testing.T) {
	ws := smallWorkspace("UTC")
	numberedConversations(ws, 5)
	s := startServer(t, ws, Options{})
	ws.UpdateConversation("2", func(c *intercom.Conversation) {
		c.State = "open"
		c.UpdatedAt = base + 10_000
		c.ID = "changed" // ignored
	})
	p := searchConversations(t, s, filter("updated_at", ">", base+5000), 0, "")
	require.Equal(t, []string{"2"}, convIDs(p.Conversations))
	assert.Equal(t, "open", p.Conversations[0].State)
	assert.Panics(t, func() { ws.UpdateConversation("nope", func(*intercom.Conversation) {}) })
}

func TestWorkspace_ConcurrentSearchesAndChanges(t *testing.T) {
	ws := Generate(GenerateOptions{Seed: 9, Participants: 100, Conversations: 1000, Now: genNow})
	s := startServer(t, ws, Options{})
	ids := contactIDs(ws.Contacts())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				switch g {
				case 0:
					ws.SetContactAttribute(ids[i], AttrEngagementStatus, "Engaged", genNow.Unix()+int64(i))
				case 1:
					ws.UpdateConversation(strconv.Itoa(100_000_000+i), func(c *intercom.Conversation) { c.UpdatedAt = genNow.Unix() })
				case 2:
					resp, _ := call(t, s, http.MethodPost, "/conversations/search", searchBody(filter("state", "=", "closed"), 50, ""))
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				default:
					resp, _ := call(t, s, http.MethodPut, "/contacts/"+ids[50+i], map[string]any{"custom_attributes": map[string]any{AttrEngagementStatus: "At Risk"}})
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	p := searchContacts(t, s, filter("custom_attributes."+AttrEngagementStatus, "=", "At Risk"), 150, "")
	assert.GreaterOrEqual(t, p.TotalCount, 10)
}

func TestNewWorkspace_UnknownTimezonePanics(t *testing.T) {
	assert.Panics(t, func() { NewWorkspace("Mars/Olympus") })
	assert.Equal(t, "UTC", NewWorkspace("").Timezone())
}

func TestServer_CloseReleasesSlowRequests(t *testing.T) {
	s := NewServer(smallWorkspace("UTC"), Options{Token: testToken})
	s.AddFault(Fault{Kind: FaultSlow, Delay: time.Hour})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the request is now held by the fault
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a slow request")
	}
	assert.Error(t, <-done, "the held request is dropped, not answered with an empty 200")
}
