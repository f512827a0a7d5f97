package intercomtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom"
)

var genNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func TestGenerate_SameSeedSameWorkspace(t *testing.T) {
	o := GenerateOptions{Seed: 42, Participants: 300, Conversations: 3000, Now: genNow, Timezone: "Europe/Berlin"}
	a, b := Generate(o), Generate(o)
	assert.Equal(t, a.Admins(), b.Admins())
	assert.Equal(t, a.DataAttributes(""), b.DataAttributes(""))
	assert.Equal(t, a.Contacts(), b.Contacts())
	assert.Equal(t, a.Conversations(), b.Conversations())
	assert.Equal(t, "Europe/Berlin", a.Timezone())

	o.Seed = 43
	c := Generate(o)
	assert.NotEqual(t, a.Contacts(), c.Contacts())
	assert.NotEqual(t, a.Conversations(), c.Conversations())
}

func TestGenerate_DefaultSizesAndFast(t *testing.T) {
	start := time.Now()
	ws := Generate(GenerateOptions{Seed: 1, Now: genNow})
	took := time.Since(start)
	assert.Equal(t, 3000, ws.NumContacts(), "2000 participants + 1000 others")
	assert.Equal(t, 20000, ws.NumConversations())
	assert.Len(t, ws.Admins(), 12)
	assert.Equal(t, "UTC", ws.Timezone())
	if !raceEnabled {
		assert.Less(t, took, time.Second, "the default workspace generates well under a second")
	}
	t.Logf("default workspace generated in %v", took)
}

// TestGenerate_ShapeOfTheCoachingProgramme checks that every case the
// exporter must handle is present in a default workspace.
func TestGenerate_ShapeOfTheCoachingProgramme(t *testing.T) {
	ws := Generate(GenerateOptions{Seed: 1, Now: genNow})
	days := int64(365)

	// Coaches: two share a name; ids numeric.
	admins := ws.Admins()
	names := map[string]int{}
	for _, a := range admins {
		names[a.Name]++
		assert.GreaterOrEqual(t, numericID(a.ID), int64(0), "admin ids are numeric")
	}
	assert.Contains(t, names, admins[0].Name)
	assert.Equal(t, 2, names[admins[0].Name], "two coaches share a name")

	// Contacts.
	var enrolledValid, isoOnly, invalidThenValid, onlyInvalid, millis, text, owners, lastCall, lastCallMillis, status int
	var noEmployer, emptyEmployer, paddedEmployer, leads int
	employers := map[string]int{}
	for _, c := range ws.Contacts() {
		reg, regErr := intercom.ParseTime(c.CustomAttributes[AttrRegistrationDate])
		_, enrErr := intercom.ParseTime(c.CustomAttributes[AttrEnrolledDate])
		switch {
		case regErr == nil && !reg.DateOnly:
			enrolledValid++
		case errors.Is(regErr, intercom.ErrMissing) && enrErr == nil:
			isoOnly++
		case regErr != nil && !errors.Is(regErr, intercom.ErrMissing) && enrErr == nil:
			invalidThenValid++
		case regErr != nil && !errors.Is(regErr, intercom.ErrMissing):
			onlyInvalid++
		}
		if errors.Is(regErr, intercom.ErrMilliseconds) {
			millis++
		}
		if errors.Is(regErr, intercom.ErrNotTime) {
			text++
		}
		if c.OwnerID != "" {
			owners++
		}
		if c.Role == "lead" {
			leads++
		}
		if _, ok := c.CustomAttributes[AttrLastCoachingCall]; ok {
			lastCall++
			if _, err := intercom.ParseTime(c.CustomAttributes[AttrLastCoachingCall]); errors.Is(err, intercom.ErrMilliseconds) {
				lastCallMillis++
			}
		}
		if c.CustomAttributes.Present(AttrEngagementStatus) {
			status++
		}
		e, ok := c.CustomAttributes.String(AttrEmployer)
		switch {
		case !ok:
			noEmployer++
		case e == "":
			emptyEmployer++
		case e != strings.TrimSpace(e):
			paddedEmployer++
		default:
			employers[e]++
		}
		assert.LessOrEqual(t, c.CreatedAt, c.UpdatedAt)
		assert.LessOrEqual(t, c.UpdatedAt, genNow.Unix())
	}
	assert.Greater(t, enrolledValid, 1200, "most participants have a valid Registration Date")
	assert.Greater(t, isoOnly, 100, "some only an ISO Enrolled Date")
	assert.Greater(t, invalidThenValid, 50, "some an invalid first and a valid second attribute")
	assert.Greater(t, onlyInvalid, 20, "a few only an invalid value")
	assert.Less(t, onlyInvalid, 200)
	assert.Positive(t, millis, "milliseconds")
	assert.Positive(t, text, "text")
	assert.Greater(t, owners, 400)
	assert.Greater(t, leads, 300, "contacts not enrolled include leads")
	assert.Greater(t, lastCall, 200)
	assert.Positive(t, lastCallMillis, "a stored Last Coaching Call in milliseconds")
	assert.Equal(t, lastCall, status, "status stored with the call")
	assert.Positive(t, noEmployer)
	assert.Positive(t, emptyEmployer)
	assert.Positive(t, paddedEmployer)
	assert.Len(t, employers, 25)
	counts := make([]int, 0, len(employers))
	for _, n := range employers {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	assert.Greater(t, counts[len(counts)-1], 5*counts[0], "employers are skewed (Zipf-like)")

	// Conversations.
	channels := map[string]int{}
	states := map[string]int{}
	var twoContacts, adminZero, adminNull, nullChannel, prevID int64
	for _, c := range ws.Conversations() {
		states[c.State]++
		raw, ok := c.CustomAttributes[AttrChannel]
		switch {
		case !ok:
			channels["(absent)"]++
		case string(raw) == "null":
			nullChannel++
		default:
			var ch string
			require.NoError(t, json.Unmarshal(raw, &ch))
			channels[ch]++
		}
		if len(c.Contacts.Contacts) == 2 {
			twoContacts++
		}
		switch c.AdminAssigneeID {
		case "0":
			adminZero++
		case "":
			adminNull++
		}
		assert.GreaterOrEqual(t, c.CreatedAt, genNow.Unix()-days*86400)
		assert.LessOrEqual(t, c.CreatedAt, c.UpdatedAt)
		assert.LessOrEqual(t, c.UpdatedAt, genNow.Unix())
		id := numericID(c.ID)
		assert.Greater(t, id, prevID, "ids grow with creation time")
		prevID = id
	}
	for _, ch := range []string{"Phone", "Video Conference", "Email", "Chat", " phone ", "VIDEO CONFERENCE", "Social", "SMS", "", "(absent)"} {
		assert.Positive(t, channels[ch], "channel %q present", ch)
	}
	assert.Positive(t, nullChannel, "channel null")
	assert.Greater(t, channels["Phone"], channels["Email"], "a realistic mix: more calls than emails")
	assert.Greater(t, states["closed"], 15000, "mostly closed")
	assert.Positive(t, states["open"])
	assert.Positive(t, states["snoozed"])
	assert.Greater(t, twoContacts, int64(200), "some conversations have two contacts")
	assert.Positive(t, adminZero)
	assert.Positive(t, adminNull)
}

func TestGenerate_RecencySpread(t *testing.T) {
	ws := Generate(GenerateOptions{Seed: 3, Now: genNow})
	last := map[string]int64{}
	for _, c := range ws.Conversations() {
		if c.State != "closed" {
			continue
		}
		for _, ref := range c.Contacts.Contacts {
			last[ref.ID] = max(last[ref.ID], c.CreatedAt)
		}
	}
	var active, lapsing, never int
	for _, c := range ws.Contacts() {
		if !strings.HasPrefix(c.ExternalID, "P") {
			continue
		}
		switch at, ok := last[c.ID]; {
		case !ok:
			never++
		case genNow.Unix()-at <= 28*86400:
			active++
		default:
			lapsing++
		}
	}
	assert.Greater(t, active, 600)
	assert.Greater(t, lapsing, 200)
	assert.Greater(t, never, 100)
}

func TestGenerate_ServedWorkspaceCanBeWalkedWithSearch(t *testing.T) {
	ws := Generate(GenerateOptions{Seed: 5, Participants: 200, Conversations: 2000, Now: genNow})
	s := startServer(t, ws, Options{})
	q := group("AND", filter("updated_at", ">", genNow.Unix()-365*86400), filter("state", "=", "closed"))
	seen := map[string]bool{}
	after := ""
	for {
		p := searchConversations(t, s, q, 150, after)
		for _, c := range p.Conversations {
			assert.False(t, seen[c.ID], "each conversation once")
			seen[c.ID] = true
		}
		if p.Pages.Next == nil {
			break
		}
		after = p.Pages.Next.StartingAfter
	}
	closed := 0
	for _, c := range ws.Conversations() {
		if c.State == "closed" {
			closed++
		}
	}
	assert.Len(t, seen, closed)
	assert.Equal(t, (closed+149)/150, s.Count(http.MethodPost, EndpointConversationsSearch))
}

func TestGenerate_RequiresNow(t *testing.T) {
	assert.Panics(t, func() { Generate(GenerateOptions{}) })
}
