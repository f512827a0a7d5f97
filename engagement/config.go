// Package engagement holds the coaching rules of docs/reports.md and
// docs/sync.md as pure functions of data, configuration and "now", and the sync runner
// that applies a plan through a small interface. It reads no clock and no
// network, and imports none of the project's other packages: the replica
// maps Intercom's models to the inputs defined here.
package engagement

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Member's-coach modes (docs/reports.md, MEMBER_COACH).
const (
	MemberCoachOwner       = "owner"
	MemberCoachLastSession = "last_session"
)

// Statuses of docs/reports.md. NoCall is metric-only: never written.
const (
	StatusEngaged   = "Engaged"
	StatusAtRisk    = "At Risk"
	StatusUnengaged = "Unengaged"
	StatusNoCall    = "No Call"
)

// Statuses lists every status in the order they are exported.
var Statuses = []string{StatusEngaged, StatusAtRisk, StatusUnengaged, StatusNoCall}

// Billing reasons of docs/metrics.md.
const (
	ReasonNew           = "new"
	ReasonEngaged       = "engaged"
	ReasonNewAndEngaged = "new_and_engaged"
)

// Reasons lists every billing reason.
var Reasons = []string{ReasonNew, ReasonEngaged, ReasonNewAndEngaged}

// Label spellings of docs/reports.md.
const (
	Unassigned      = "unassigned"
	UnknownEmployer = "unknown"
)

// Band is a named range of days, inclusive at both ends; Max < 0 is open.
type Band struct {
	Name     string
	Min, Max int
}

// AgeBands are the shared age bands of docs/reports.md (caseload, sessions).
var AgeBands = []Band{{"0-7d", 0, 7}, {"8-28d", 8, 28}, {"29-56d", 29, 56}, {"57d+", 57, -1}}

// ParticipantBands are the days-without-a-session bands of docs/reports.md.
var ParticipantBands = []Band{{"0-13d", 0, 13}, {"14-21d", 14, 21}, {"22-28d", 22, 28}, {"29d+", 29, -1}}

// BandOf returns the index of the band holding days (days >= 0).
func BandOf(bands []Band, days int) int {
	for i, b := range bands {
		if days >= b.Min && (b.Max < 0 || days <= b.Max) {
			return i
		}
	}
	return len(bands) - 1
}

// BandNames lists the names of bands, in order.
func BandNames(bands []Band) []string {
	names := make([]string, len(bands))
	for i, b := range bands {
		names[i] = b.Name
	}
	return names
}

// Config is the part of the configuration the rules depend on.
type Config struct {
	Location           *time.Location
	SessionChannels    []string // canonical spellings, in order
	CallChannels       []string // subset of SessionChannels
	LookbackDays       int
	EngagedDays        int
	AtRiskDays         int
	BillingEngagedDays int
	MemberCoach        string
}

// DefaultConfig is the configuration with the documented defaults (docs/configuration.md).
func DefaultConfig() Config {
	return Config{
		Location:           time.UTC,
		SessionChannels:    []string{"Phone", "Video Conference", "Email", "Chat"},
		CallChannels:       []string{"Phone", "Video Conference"},
		LookbackDays:       365,
		EngagedDays:        28,
		AtRiskDays:         56,
		BillingEngagedDays: 56,
		MemberCoach:        MemberCoachOwner,
	}
}

// MaxChannels bounds the session channels (they are kept in a bit set).
const MaxChannels = 32

// SettingError is a problem with one setting, named as its configuration
// variable (docs/configuration.md).
type SettingError struct {
	Setting, Problem string
}

func (e *SettingError) Error() string { return e.Setting + ": " + e.Problem }

// Validate lists every problem with the configuration, each a
// *SettingError.
func (c Config) Validate() error {
	var errs []error
	bad := func(setting, format string, a ...any) error {
		return &SettingError{Setting: setting, Problem: fmt.Sprintf(format, a...)}
	}
	if c.Location == nil {
		errs = append(errs, bad("TIMEZONE", "not set"))
	}
	if len(c.SessionChannels) == 0 {
		errs = append(errs, bad("SESSION_CHANNELS", "at least one channel is needed"))
	}
	if len(c.SessionChannels) > MaxChannels {
		errs = append(errs, bad("SESSION_CHANNELS", "at most %d channels", MaxChannels))
	}
	seen := map[string]bool{}
	for _, ch := range c.SessionChannels {
		k := channelKey(ch)
		if k == "" {
			errs = append(errs, bad("SESSION_CHANNELS", "empty channel name"))
			continue
		}
		if strings.Contains(ch, "+") {
			errs = append(errs, bad("SESSION_CHANNELS", "%q contains '+', which joins channel mixes", ch))
		}
		if seen[k] {
			errs = append(errs, bad("SESSION_CHANNELS", "%q is listed twice", ch))
		}
		seen[k] = true
	}
	for _, ch := range c.CallChannels {
		if !seen[channelKey(ch)] {
			errs = append(errs, bad("CALL_CHANNELS", "%q is not one of SESSION_CHANNELS", ch))
		}
	}
	if c.LookbackDays < 1 || c.LookbackDays > 3650 {
		errs = append(errs, bad("LOOKBACK_DAYS", "%d is outside 1..3650", c.LookbackDays))
	}
	if c.EngagedDays < 0 {
		errs = append(errs, bad("ENGAGED_DAYS", "%d is negative", c.EngagedDays))
	}
	if c.AtRiskDays < c.EngagedDays {
		errs = append(errs, bad("AT_RISK_DAYS", "%d is less than ENGAGED_DAYS %d", c.AtRiskDays, c.EngagedDays))
	}
	if c.BillingEngagedDays < 0 {
		errs = append(errs, bad("BILLING_ENGAGED_DAYS", "%d is negative", c.BillingEngagedDays))
	}
	if c.MemberCoach != MemberCoachOwner && c.MemberCoach != MemberCoachLastSession {
		errs = append(errs, bad("MEMBER_COACH", "%q is neither %q nor %q", c.MemberCoach, MemberCoachOwner, MemberCoachLastSession))
	}
	return errors.Join(errs...)
}

// channelKey is how channel spellings are matched: surrounding spaces and
// letter case do not count.
func channelKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Channels matches raw channel values to the configured canonical spellings.
type Channels struct {
	names []string
	index map[string]int
	calls uint32
}

// NewChannels prepares channel matching for cfg.
func NewChannels(cfg Config) Channels {
	ch := Channels{names: cfg.SessionChannels, index: make(map[string]int, len(cfg.SessionChannels))}
	for i, n := range cfg.SessionChannels {
		ch.index[channelKey(n)] = i
		// The configured spelling itself too, so that the usual raw value
		// matches without the allocation of strings.ToLower; its key is the
		// same channel's, so the rule is unchanged.
		ch.index[n] = i
	}
	for _, n := range cfg.CallChannels {
		if i, ok := ch.index[channelKey(n)]; ok {
			ch.calls |= 1 << uint(i)
		}
	}
	return ch
}

// Lookup returns the index of a raw channel value among the session
// channels, or -1 when it is not a session channel.
func (c Channels) Lookup(raw string) int {
	if i, ok := c.index[raw]; ok {
		return i
	}
	if i, ok := c.index[channelKey(raw)]; ok {
		return i
	}
	return -1
}

// Canonical parses a channel filter (any spelling) to its canonical name.
func (c Channels) Canonical(raw string) (string, bool) {
	i := c.Lookup(raw)
	if i < 0 {
		return "", false
	}
	return c.names[i], true
}

// Names are the canonical session channels in configured order.
func (c Channels) Names() []string { return c.names }

// IsCall reports whether channel index i is a call channel.
func (c Channels) IsCall(i int) bool { return i >= 0 && c.calls&(1<<uint(i)) != 0 }

// Mix spells a set of channels (bit i = channel i) in configured order,
// joined by "+".
func (c Channels) Mix(set uint32) string {
	var b strings.Builder
	for i, n := range c.names {
		if set&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}
