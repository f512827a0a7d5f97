package intercom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ID is an Intercom identifier decoded leniently: the API sends some ids as
// strings ("123") and others as integers (admin_assignee_id, owner_id,
// team_assignee_id), and 0 or null for "none". The zero value means "none".
type ID string

// UnmarshalJSON accepts a string, an integer, 0 or null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*id = ""
		return nil
	case b[0] == '"':
		var s string
		if n := len(b); n >= 2 && b[n-1] == '"' && bytes.IndexByte(b[1:n-1], '\\') < 0 && utf8.Valid(b[1:n-1]) {
			s = string(b[1 : n-1]) // the common case: nothing to unescape
		} else if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "0" {
			s = ""
		}
		*id = ID(s)
		return nil
	default:
		if !isJSONNumber(b) {
			return fmt.Errorf("id: want string or number, got %s", truncate(b))
		}
		s := string(b)
		if s == "0" {
			s = ""
		}
		*id = ID(s)
		return nil
	}
}

// isJSONNumber reports whether b is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// Attributes are custom attribute values as sent by Intercom: any JSON type,
// with unset attributes present as null.
type Attributes map[string]json.RawMessage

// String reads a custom attribute as text. Numbers and booleans are given in
// their JSON spelling; null, missing and objects or arrays are not text.
func (a Attributes) String(name string) (string, bool) {
	raw, ok := a[name]
	if !ok {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	default:
		return string(raw), true
	}
}

// Present reports whether the attribute has a value other than null or "".
func (a Attributes) Present(name string) bool {
	raw, ok := a[name]
	if !ok {
		return false
	}
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null" && string(raw) != `""`
}

// TimeValue is a time attribute as read: an instant (UNIX seconds or an
// ISO-8601 date-time) or, for an ISO-8601 date without a time, a calendar
// day whose instant depends on the reader's timezone.
type TimeValue struct {
	Unix     int64 // the instant, when neither DateOnly nor Local
	DateOnly bool
	// Local is a date-time without a UTC offset: a wall-clock time whose
	// instant depends on the reader's timezone, like a date.
	Local  bool
	Year   int // the calendar day, when DateOnly or Local
	Month  time.Month
	Day    int
	Hour   int // the wall-clock time, when Local
	Minute int
	Second int
}

// In is the value's instant read in loc: a date is the start of that day
// there, a date-time without an offset is that wall-clock time there.
func (v TimeValue) In(loc *time.Location) time.Time {
	switch {
	case v.DateOnly:
		return time.Date(v.Year, v.Month, v.Day, 0, 0, 0, 0, loc)
	case v.Local:
		return time.Date(v.Year, v.Month, v.Day, v.Hour, v.Minute, v.Second, 0, loc)
	}
	return time.Unix(v.Unix, 0).In(loc)
}

// Errors a time attribute can be unusable for. ErrMissing is not an invalid
// value: the attribute is simply unset.
var (
	ErrMissing      = errors.New("not set")
	ErrEmpty        = errors.New("empty text")
	ErrMilliseconds = errors.New("looks like milliseconds (10^11 or more), not UNIX seconds")
	ErrNotPositive  = errors.New("zero or negative timestamp")
	ErrNotTime      = errors.New("neither UNIX seconds nor an ISO-8601 date or date-time")
)

// maxUnixSeconds is 10^11: larger values are milliseconds (docs/reports.md).
const maxUnixSeconds = 1e11

// Time reads a time attribute per docs/reports.md "Reading a time
// attribute". It returns ErrMissing for null or missing values (unset) and
// ErrEmpty, or a wrapped ErrMilliseconds, ErrNotPositive or ErrNotTime, for
// values that are set but unusable.
func (a Attributes) Time(name string) (TimeValue, error) {
	raw, ok := a[name]
	if !ok {
		return TimeValue{}, ErrMissing
	}
	return ParseTime(raw)
}

// ParseTime reads one JSON value as a time attribute (see Attributes.Time).
func ParseTime(raw json.RawMessage) (TimeValue, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return TimeValue{}, ErrMissing
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return TimeValue{}, fmt.Errorf("%w: %s", ErrNotTime, truncate(raw))
		}
		return ParseTimeString(s)
	}
	if raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return TimeValue{}, fmt.Errorf("%w: %s", ErrNotTime, truncate(raw))
	}
	return parseUnix(string(raw))
}

// ParseTimeString reads a time attribute given as text.
func ParseTimeString(s string) (TimeValue, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		// Set, but empty: docs/reports.md lists empty among the invalid.
		return TimeValue{}, ErrEmpty
	}
	if isDecimal(s) {
		return parseUnix(s)
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return TimeValue{DateOnly: true, Year: d.Year(), Month: d.Month(), Day: d.Day()}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Unix() <= 0 {
				return TimeValue{}, fmt.Errorf("%w: %q", ErrNotPositive, s)
			}
			return TimeValue{Unix: t.Unix()}, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 {
				return TimeValue{}, fmt.Errorf("%w: %q", ErrNotPositive, s)
			}
			return TimeValue{Local: true, Year: t.Year(), Month: t.Month(), Day: t.Day(),
				Hour: t.Hour(), Minute: t.Minute(), Second: t.Second()}, nil
		}
	}
	return TimeValue{}, fmt.Errorf("%w: %q", ErrNotTime, truncate([]byte(s)))
}

// isDecimal reports whether s is a decimal number, [+-]digits[.digits][e[+-]digits]
// (so no hexadecimal, Inf or NaN spellings, which strconv.ParseFloat takes).
func isDecimal(s string) bool {
	i, n := 0, 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n++
		}
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		m := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			m++
		}
		if m == 0 {
			return false
		}
	}
	return i == len(s)
}

func parseUnix(s string) (TimeValue, error) {
	if !isDecimal(s) {
		return TimeValue{}, fmt.Errorf("%w: %q", ErrNotTime, truncate([]byte(s)))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return TimeValue{}, fmt.Errorf("%w: %q", ErrNotTime, truncate([]byte(s)))
	}
	switch {
	case int64(f) <= 0: // 0.5 is second 0, as invalid as 0
		return TimeValue{}, fmt.Errorf("%w: %s", ErrNotPositive, s)
	case f >= maxUnixSeconds:
		return TimeValue{}, fmt.Errorf("%w: %s", ErrMilliseconds, s)
	}
	return TimeValue{Unix: int64(f)}, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// ContactRef is a contact as listed on a conversation: id only.
type ContactRef struct {
	ID         string `json:"id"`
	ExternalID string `json:"external_id,omitempty"`
}

// Conversation holds the fields of an Intercom conversation the exporter uses.
type Conversation struct {
	ID               string     `json:"id"`
	CreatedAt        int64      `json:"created_at"`
	UpdatedAt        int64      `json:"updated_at"`
	State            string     `json:"state"`
	AdminAssigneeID  ID         `json:"admin_assignee_id"`
	TeamAssigneeID   ID         `json:"team_assignee_id"`
	CustomAttributes Attributes `json:"custom_attributes"`
	Contacts         struct {
		Contacts []ContactRef `json:"contacts"`
	} `json:"contacts"`
}

// Contact holds the fields of an Intercom contact the exporter uses.
type Contact struct {
	ID               string     `json:"id"`
	ExternalID       string     `json:"external_id"`
	Role             string     `json:"role"`
	Name             string     `json:"name"`
	Email            string     `json:"email"`
	OwnerID          ID         `json:"owner_id"`
	CreatedAt        int64      `json:"created_at"`
	UpdatedAt        int64      `json:"updated_at"`
	CustomAttributes Attributes `json:"custom_attributes"`
}

// Admin is a teammate: the coaches.
type Admin struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// DataAttribute describes one attribute of a model (GET /data_attributes).
type DataAttribute struct {
	Name        string `json:"name"`
	FullName    string `json:"full_name"`
	Label       string `json:"label"`
	Model       string `json:"model"`
	DataType    string `json:"data_type"`
	APIWritable bool   `json:"api_writable"`
	Custom      bool   `json:"custom"`
	Archived    bool   `json:"archived"`
}

// Workspace is what GET /me says about the app the token belongs to.
type Workspace struct {
	IDCode   string `json:"id_code"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
}
