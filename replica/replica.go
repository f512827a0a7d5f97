// Package replica is the exporter's local copy of Intercom: the closed
// conversations of the data window and the contacts the reports need,
// brought up to date by reading only what changed (docs/intercom.md), with
// deleted records found by comparing counts, and encoded for STATE_DIR so
// that a restart need not read everything again. It hands the rules their
// input (engagement.Data); it computes no report and publishes nothing.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/state"
)

// Settings are what the copy reads and how (docs/configuration.md).
type Settings struct {
	// Rules are the rules' settings: the timezone, the session channels and
	// the lookback (which bounds the data window).
	Rules engagement.Config
	// The contact and conversation attributes read.
	ChannelAttribute       string
	EmployerAttribute      string
	RegistrationAttributes []string
	LastCallAttribute      string
	StatusAttribute        string
	// RefreshConcurrency bounds the search requests in flight.
	RefreshConcurrency int
	// FullRefreshInterval is how often a refresh reads everything again
	// (0: always).
	FullRefreshInterval time.Duration
	// SlowRefreshInterval is how often a refresh also reads the contacts,
	// admins and data attributes that changed and compares counts to find
	// deletions (0: every refresh); the refreshes between read only the
	// conversations that changed (docs/freshness.md).
	SlowRefreshInterval time.Duration
	// Overlap is how far before the start of the previous read an
	// incremental read starts again, to cover the lag of Intercom's search
	// index; 0 means DefaultOverlap.
	Overlap time.Duration
}

// DefaultOverlap covers a search index a few minutes behind the writes
// (docs/freshness.md). Every record changed in it is read again by each
// incremental read, which costs little: a page holds 150.
const DefaultOverlap = 5 * time.Minute

// overlap is Settings.Overlap or its default.
func (s *Settings) overlap() time.Duration {
	if s.Overlap > 0 {
		return s.Overlap
	}
	return DefaultOverlap
}

// fingerprint names the settings the saved data depends on: how it was
// read and mapped. Saved data read with other settings is not used. (Its
// spelling is that of the configuration variables, so that state saved by
// earlier versions still matches.)
func (s *Settings) fingerprint() string {
	return strings.Join([]string{
		"TIMEZONE=" + s.Rules.Location.String(),
		"CHANNEL_ATTRIBUTE=" + s.ChannelAttribute,
		"SESSION_CHANNELS=" + strings.Join(s.Rules.SessionChannels, ","),
		"EMPLOYER_ATTRIBUTE=" + s.EmployerAttribute,
		"REGISTRATION_ATTRIBUTES=" + strings.Join(s.RegistrationAttributes, ","),
		"LAST_CALL_ATTRIBUTE=" + s.LastCallAttribute,
		"STATUS_ATTRIBUTE=" + s.StatusAttribute,
		"LOOKBACK_DAYS=" + strconv.Itoa(s.Rules.LookbackDays),
		// Saved registration days were read by this rule: date-typed
		// values at UTC midnight are UTC dates (docs/reports.md).
		"REGISTRATION_RULE=date-typed-utc-midnight",
	}, "\n")
}

// TimeAttributes are the time attributes whose unreadable values are
// counted (Stats.Invalid): the registration attributes and the last call,
// in that order.
func (s Settings) TimeAttributes() []string {
	names := slices.Clone(s.RegistrationAttributes)
	if !slices.Contains(names, s.LastCallAttribute) {
		names = append(names, s.LastCallAttribute)
	}
	return names
}

// Replica is the local copy. Its methods are called one at a time (the
// caller runs one refresh at a time); Replica does not lock.
type Replica struct {
	client *intercom.Client
	set    Settings
	log    *slog.Logger

	// store is the data of the last read, kept between refreshes; nil
	// until a read or a restore.
	store *store
	// forceFull, when not "", makes the next refresh a full read and says
	// why.
	forceFull string
	// slowNext makes the next incremental refresh a slow one (RequestSlow).
	slowNext bool
	// convBounds is what reads showed of the conversation search's ">" and
	// "<" (see searcher.convRange).
	convBounds atomic.Int32

	warnedMu sync.Mutex
	warned   map[string]bool // one-off warnings already given
}

// New is an empty copy read through client. It does not call Intercom.
func New(client *intercom.Client, set Settings, log *slog.Logger) *Replica {
	if log == nil {
		log = slog.Default()
	}
	return &Replica{client: client, set: set, log: log, warned: map[string]bool{}}
}

// Kind is what a refresh reads.
type Kind int

const (
	// Quick reads the conversations that changed (and the contacts they
	// list that the copy lacks).
	Quick Kind = iota
	// Slow also reads the workspace, admins, data attributes and contacts
	// that changed, and compares counts to find deleted records.
	Slow
	// Full reads everything again.
	Full
)

func (k Kind) String() string {
	switch k {
	case Slow:
		return "slow"
	case Full:
		return "full"
	}
	return "quick"
}

// ErrFullReadNeeded is returned by an incremental refresh that found the
// workspace, its timezone or the contact attributes changed: nothing was
// read, and the next refresh reads in full (Next says so), under the
// full read's own time bound.
var ErrFullReadNeeded = errors.New("the workspace, its timezone or the contact attributes changed: a full read is needed")

// Next is what a refresh at now would read, as far as is known before it
// calls Intercom (a slow read may still find that a full one is needed).
func (rep *Replica) Next(now time.Time) Kind {
	if r := rep.fullReason(now); r != "" {
		return Full
	}
	s := rep.store
	if rep.slowNext || rep.set.SlowRefreshInterval <= 0 || now.Sub(s.slowAt) >= rep.set.SlowRefreshInterval || now.Before(s.slowAt) {
		return Slow
	}
	return Quick
}

// RequestSlow makes the next incremental refresh a slow one (a refresh
// asked for by hand, or one a sync depends on, reads contacts too).
func (rep *Replica) RequestSlow() { rep.slowNext = true }

// fullReason says why a refresh at now reads in full, "" when it need not
// (as far as is known before calling Intercom).
func (rep *Replica) fullReason(now time.Time) string {
	base := rep.store
	switch {
	case rep.forceFull != "":
		return rep.forceFull
	case base == nil:
		return "no data read yet"
	case rep.set.FullRefreshInterval == 0:
		return "FULL_REFRESH_INTERVAL is 0"
	case now.Sub(base.fullAt) >= rep.set.FullRefreshInterval:
		return "FULL_REFRESH_INTERVAL has passed (catches deletions and merges)"
	case now.Before(base.readAt):
		return "the clock is before the last read"
	}
	return ""
}

// Stats describe the copy after a refresh or a restore, and (after a
// refresh) what the read did.
type Stats struct {
	// Kind is what the refresh read; Full is Kind == Full, with Reason
	// saying why.
	Kind   Kind
	Full   bool
	Reason string
	// Changed is false when an incremental read found every record as the
	// copy had it and removed none, and the admins unchanged: the data is
	// what it was.
	Changed bool
	// Now is the "now" the data was read for (a restore: the saved one);
	// RefreshEnd (restore only) when the refresh that saved it ended.
	Now, RefreshEnd time.Time
	// WorkspaceTimezone is the workspace's own timezone (GET /me), "" when
	// unknown.
	WorkspaceTimezone string
	// WorkspaceID is the workspace's app id (GET /me's id_code), which its
	// pages in Intercom are addressed by; "" when unknown.
	WorkspaceID string
	// AdminsKnown is false when admins could not be read.
	AdminsKnown bool
	// Contacts is how many contacts the copy holds.
	Contacts int
	// NoChannel counts the closed conversations with a missing or unknown
	// channel created in the engaged window of the previous month's
	// billing (docs/reports.md): calls that may be lost to billing.
	NoChannel int
	// Invalid counts the contacts whose value of a time attribute cannot be
	// read, by attribute (every one of Settings.TimeAttributes).
	Invalid map[string]int

	ConversationsRead, ContactsRead int
	// Requests is how many search requests the read made.
	Requests int64
	// Removed is how many records comparing counts found deleted.
	Removed int
	// How long the phases took: the searches, the contacts read by id, and
	// (incremental reads) the comparison of counts.
	SearchTime, ByIDTime, ReconcileTime time.Duration
}

// Refresh brings the copy up to date for now and returns the rules' input.
// On any error nothing is returned and the next refresh starts from the
// same point (or reads in full); the data returned before stays valid.
// The data shares memory with the copy: it is valid until the next
// Refresh, which copies what a published model points into before
// changing it.
func (rep *Replica) Refresh(ctx context.Context, now time.Time) (engagement.Data, Stats, error) {
	r, err := rep.read(ctx, now)
	st := Stats{Kind: r.kind, Full: r.kind == Full, Reason: r.reason, WorkspaceTimezone: r.workspaceTimezone, WorkspaceID: r.workspaceID,
		ConversationsRead: r.conversationsRead, ContactsRead: r.contactsRead, Requests: r.requests,
		Removed: r.removed, SearchTime: r.searchTime, ByIDTime: r.byIDTime, ReconcileTime: r.reconcileTime}
	if err != nil {
		return engagement.Data{}, st, err
	}
	s := r.store
	s.now = now
	rep.store = s
	if r.kind == Full {
		rep.forceFull = ""
	}
	if r.kind != Quick {
		rep.slowNext = false
	}
	// Changes merged by a read that then failed count too: what was
	// published does not have them.
	st.Changed = r.kind == Full || s.changes > 0 || r.adminsChanged
	s.changes = 0
	rep.describe(&st)
	return s.data(), st, nil
}

// describe fills in what st says of the copy itself.
func (rep *Replica) describe(st *Stats) {
	s := rep.store
	st.Now, st.RefreshEnd = s.now, s.refreshEnd
	st.WorkspaceTimezone, st.WorkspaceID, st.AdminsKnown = s.workspaceTZ, s.workspaceID, s.adminsKnown
	st.Contacts = len(s.contacts)
	st.NoChannel = s.othersCreatedIn(rep.billingWindow(s.now))
	st.Invalid = s.invalid(rep.set.TimeAttributes())
}

// Encode is the copy as saved state (state.File's Data), recording that
// the refresh that made it ended at refreshEnd; nil when there is no data.
func (rep *Replica) Encode(refreshEnd time.Time) []byte {
	if rep.store == nil {
		return nil
	}
	rep.store.refreshEnd = refreshEnd
	return state.EncodeSnapshot(rep.store.saved(rep.set.fingerprint()))
}

// ErrOtherSettings is returned by Restore for data read with other
// settings (timezone, attributes, channels or lookback).
var ErrOtherSettings = errors.New("the saved data was read with other settings (timezone, attributes, channels or lookback)")

// Restore makes saved data (from Encode) the copy and returns it as the
// rules' input; the next Refresh then reads only what changed. Data that
// cannot be used leaves the copy as it was.
func (rep *Replica) Restore(blob []byte) (engagement.Data, Stats, error) {
	snap, err := state.DecodeSnapshot(blob)
	if err != nil {
		return engagement.Data{}, Stats{}, fmt.Errorf("%w: %v", state.ErrCorrupt, err)
	}
	if snap.Settings != rep.set.fingerprint() {
		return engagement.Data{}, Stats{}, ErrOtherSettings
	}
	s, err := storeFrom(snap)
	if err != nil {
		return engagement.Data{}, Stats{}, err
	}
	rep.store = s
	// The first read after a restart reads everything that changed: the
	// workspace may have changed while the exporter was down.
	rep.slowNext = true
	var st Stats
	rep.describe(&st)
	return s.data(), st, nil
}

// warnOnce logs a warning the first time key is seen, then at debug level.
func (rep *Replica) warnOnce(key, msg string, args ...any) {
	rep.warnedMu.Lock()
	seen := rep.warned[key]
	rep.warned[key] = true
	rep.warnedMu.Unlock()
	if seen {
		rep.log.Debug(msg, args...)
		return
	}
	rep.log.Warn(msg, args...)
}

// billingWindow is the engaged window of the billing month of now (the
// previous month) as [from, to) in UNIX seconds, in the rules' timezone.
func (rep *Replica) billingWindow(now time.Time) (from, to int64) {
	r := &rep.set.Rules
	month := engagement.MonthOf(engagement.DayOf(now, r.Location)).Prev()
	from = (month.First() - engagement.Day(r.BillingEngagedDays)).Start(r.Location).Unix()
	to = (month.Last() + 1).Start(r.Location).Unix()
	return from, to
}
