package intercom

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// conversations_lenient.json is the conversation of the API description's
// search example with its assignee ids spelt every way the API has sent them.
func TestConversation_AssigneeIDsDecodeLeniently(t *testing.T) {
	var page struct {
		Conversations []Conversation `json:"conversations"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "conversations_lenient.json"), &page))
	require.Len(t, page.Conversations, 5)

	tests := []struct {
		id          string
		admin, team ID
	}{
		{"498", "991267715", "5017691"}, // numbers, as in the description
		{"499", "991267716", "5017692"}, // strings
		{"500", "", ""},                 // 0 and "0": unassigned
		{"501", "", ""},                 // null: unassigned
		{"502", "", ""},                 // "0" and 0
	}
	for i, tt := range tests {
		c := page.Conversations[i]
		assert.Equal(t, tt.id, c.ID)
		assert.Equal(t, tt.admin, c.AdminAssigneeID, "admin_assignee_id of %s", c.ID)
		assert.Equal(t, tt.team, c.TeamAssigneeID, "team_assignee_id of %s", c.ID)
	}
	c := page.Conversations[0]
	assert.Equal(t, int64(1717021858), c.CreatedAt)
	assert.Equal(t, "closed", c.State)
	assert.Equal(t, []ContactRef{{ID: "6657aca16abd0166b52ae275", ExternalID: "70"}}, c.Contacts.Contacts)
}

func TestID_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    ID
		wantErr bool
	}{
		{`991267715`, "991267715", false},
		{`"991267715"`, "991267715", false},
		{`" 42 "`, "42", false},
		{`"a\u0062c"`, "abc", false}, // escapes are undone
		{`0`, "", false},
		{`"0"`, "", false},
		{`null`, "", false},
		{`""`, "", false},
		{`true`, "", true},
		{`{}`, "", true},
		{`[1]`, "", true},
	}
	for _, tt := range tests {
		var id ID
		err := json.Unmarshal([]byte(tt.in), &id)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, id, tt.in)
	}
}

// contact_attributes.json is the description's PUT /contacts/{id} example
// with custom attributes of every JSON type.
func TestContact_CustomAttributesOfAnyJSONType(t *testing.T) {
	var c Contact
	require.NoError(t, json.Unmarshal(readFixture(t, "contact_attributes.json"), &c))
	assert.Equal(t, "6657ac5e6abd0166b52ae241", c.ID)
	assert.Equal(t, ID("991267715"), c.OwnerID)
	a := c.CustomAttributes

	text := []struct {
		name string
		want string
		ok   bool
	}{
		{"Employer", "Acme Ltd", true},
		{"Score", "7.5", true},
		{"Active", "true", true},
		{"Registration Date", "1717021790", true},
		{"Unset", "", false},
		{"List", "", false},
		{"Object", "", false},
		{"Missing", "", false},
	}
	for _, tt := range text {
		got, ok := a.String(tt.name)
		assert.Equal(t, tt.ok, ok, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
	assert.True(t, a.Present("Employer"))
	assert.False(t, a.Present("Unset"))
	assert.False(t, a.Present("Empty"))
	assert.False(t, a.Present("Missing"))

	// Time attributes straight from the fixture.
	v, err := a.Time("Registration Date")
	require.NoError(t, err)
	assert.Equal(t, TimeValue{Unix: 1717021790}, v)
	v, err = a.Time("Last Coaching Call")
	require.NoError(t, err)
	assert.Equal(t, TimeValue{DateOnly: true, Year: 2026, Month: time.March, Day: 1}, v)
	_, err = a.Time("Millis")
	assert.ErrorIs(t, err, ErrMilliseconds)
	_, err = a.Time("Unset")
	assert.ErrorIs(t, err, ErrMissing)
	_, err = a.Time("Missing")
	assert.ErrorIs(t, err, ErrMissing)
}

func TestParseTime(t *testing.T) {
	instant := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm.Unix()
	}
	valid := []struct {
		in   string
		want TimeValue
	}{
		{`1717021790`, TimeValue{Unix: 1717021790}},                                        // UNIX seconds, number
		{`1717021790.9`, TimeValue{Unix: 1717021790}},                                      // fractional seconds
		{`"1717021790"`, TimeValue{Unix: 1717021790}},                                      // numeric string
		{`" 1717021790 "`, TimeValue{Unix: 1717021790}},                                    // with spaces
		{`99999999999`, TimeValue{Unix: 99999999999}},                                      // just below 10^11
		{`1`, TimeValue{Unix: 1}},                                                          // smallest positive
		{`"2026-03-01"`, TimeValue{DateOnly: true, Year: 2026, Month: time.March, Day: 1}}, // ISO date: a calendar day
		{`"2026-03-01T09:30:00Z"`, TimeValue{Unix: instant("2026-03-01T09:30:00Z")}},
		{`"2026-03-01T09:30:00+01:00"`, TimeValue{Unix: instant("2026-03-01T08:30:00Z")}},
		{`"2026-03-01T09:30:00.250-05:00"`, TimeValue{Unix: instant("2026-03-01T14:30:00Z")}},
		{`"2026-03-01T09:30:00+0100"`, TimeValue{Unix: instant("2026-03-01T08:30:00Z")}},
		{`"2026-03-01T09:30Z"`, TimeValue{Unix: instant("2026-03-01T09:30:00Z")}},
		{`"2026-03-01 09:30:00Z"`, TimeValue{Unix: instant("2026-03-01T09:30:00Z")}},
		// Without an offset: a wall-clock time, placed by the reader's timezone.
		{`"2026-03-01T09:30:00"`, TimeValue{Local: true, Year: 2026, Month: 3, Day: 1, Hour: 9, Minute: 30}},
		{`"2026-03-01 09:30:15"`, TimeValue{Local: true, Year: 2026, Month: 3, Day: 1, Hour: 9, Minute: 30, Second: 15}},
		{`1.9`, TimeValue{Unix: 1}},
	}
	for _, tt := range valid {
		got, err := ParseTime(json.RawMessage(tt.in))
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}

	invalid := []struct {
		in   string
		want error
	}{
		{`null`, ErrMissing},
		{`""`, ErrEmpty}, // set but empty: invalid, unlike null (docs/reports.md)
		{`"  "`, ErrEmpty},
		{``, ErrMissing},
		{`0.5`, ErrNotPositive}, // second 0 of 1970
		{`"0.9"`, ErrNotPositive},
		{`0`, ErrNotPositive},
		{`"0"`, ErrNotPositive},
		{`-5`, ErrNotPositive},
		{`"-1717021790"`, ErrNotPositive},
		{`"1969-12-31T23:59:59Z"`, ErrNotPositive},
		{`100000000000`, ErrMilliseconds}, // 10^11
		{`1717021790000`, ErrMilliseconds},
		{`"1717021790000"`, ErrMilliseconds},
		{`1e11`, ErrMilliseconds},
		{`"next tuesday"`, ErrNotTime},
		{`"0x66575a5e"`, ErrNotTime}, // hexadecimal is not UNIX seconds
		{`"+Inf"`, ErrNotTime},
		{`"NaN"`, ErrNotTime},
		{`"2026-02-30"`, ErrNotTime},
		{`"01/03/2026"`, ErrNotTime},
		{`true`, ErrNotTime},
		{`{"a":1}`, ErrNotTime},
		{`[1717021790]`, ErrNotTime},
	}
	for _, tt := range invalid {
		_, err := ParseTime(json.RawMessage(tt.in))
		assert.ErrorIs(t, err, tt.want, "%s", tt.in)
	}
}

func TestDecodeDescriptionExamples(t *testing.T) {
	var admins struct {
		Admins []Admin `json:"admins"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "admins.json"), &admins))
	assert.Equal(t, []Admin{{ID: "991267792", Name: "Ciaran7 Lee", Email: "admin7@email.com"}}, admins.Admins)

	var me struct {
		App Workspace `json:"app"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "me.json"), &me))
	assert.Equal(t, Workspace{IDCode: "this_is_an_id1_that_should_be_at_least_40", Name: "MyApp 1", Timezone: "America/Los_Angeles"}, me.App)

	var attrs struct {
		Data []DataAttribute `json:"data"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "data_attributes.json"), &attrs))
	require.NotEmpty(t, attrs.Data)
	assert.Equal(t, DataAttribute{Name: "name", FullName: "name", Label: "Company name", Model: "company", DataType: "string", APIWritable: true}, attrs.Data[0])
}

func TestTimeValueIn_PlacesDatesAndWallClockTimesInTheTimezone(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata") // UTC+05:30, no DST
	require.NoError(t, err)
	date := TimeValue{DateOnly: true, Year: 2026, Month: 3, Day: 1}
	local := TimeValue{Local: true, Year: 2026, Month: 3, Day: 1, Hour: 2, Minute: 0}
	instant := TimeValue{Unix: 1772323200} // 2026-03-01T00:00:00Z
	// 2026-03-01 00:00 in Kolkata is 2026-02-28 18:30 UTC.
	assert.Equal(t, int64(1772323200-5*3600-1800), date.In(kolkata).Unix())
	// 02:00 in Kolkata is 20:30 UTC the day before.
	assert.Equal(t, int64(1772323200-3*3600-1800), local.In(kolkata).Unix())
	assert.Equal(t, int64(1772323200), instant.In(kolkata).Unix())
	assert.Equal(t, int64(1772323200+2*3600), local.In(time.UTC).Unix())
}
