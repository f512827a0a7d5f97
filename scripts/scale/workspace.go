package main

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// sessionShare is the share of the generator's conversations that are
// closed sessions (generate.go): 80% are drawn as sessions of which 8% are
// open or snoozed, and of the other 20%, a third carry a session channel
// and 85% of those are closed: 0.80*0.92 + 0.20*0.33*0.85 = 0.7921. The
// workspace is then trimmed or topped up to the exact count.
const sessionShare = 0.80*0.92 + 0.20*0.33*0.85

// firstConvID is the generator's first conversation id.
const firstConvID = 100_000_000

type workspaceStats struct {
	Contacts             int     `json:"contacts"`
	Participants         int     `json:"participants_generated"`
	Enrolled             int     `json:"enrolled_valid_registration"`
	ConversationsTotal   int     `json:"conversations_total"`
	ClosedSessions       int     `json:"closed_sessions"`
	GeneratedAs          int     `json:"generator_conversations"`
	Adjusted             int     `json:"adjusted_by"`
	Coaches              int     `json:"coaches"`
	Employers            int     `json:"employers"`
	Days                 int     `json:"days"`
	GenerateSeconds      float64 `json:"generate_seconds"`
	DataContacts         int     `json:"data_contacts"`
	DataConversations    int     `json:"data_conversations"`
	Timezone             string  `json:"timezone"`
	GeneratedNowUnix     int64   `json:"generated_now_unix"`
	lastConvNum          int64
	deleted              map[int64]bool
	ecfg                 engagement.Config
	cfg                  *config.Config
	sessionChannelLookup engagement.Channels
}

// defaultConfig is the daemon's configuration with every default, as the
// daemon reads it (so the rules here are the daemon's rules).
func defaultConfig(timezone string) (*config.Config, error) {
	return config.Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"INTERCOM_ACCESS_TOKEN": "scale",
		"TIMEZONE":              timezone,
	}))
}

// generate builds the workspace: contacts contacts of which enrolled are
// participants, and exactly sessions closed session conversations (with the
// generator's mix of other conversations around them) when exact is set;
// otherwise sessions is the generator's raw conversation count.
func generate(seed int64, contacts, enrolled, sessions, days, coaches, employers int, exact bool, now time.Time) (*intercomtest.Workspace, *workspaceStats, error) {
	t0 := time.Now()
	n := sessions
	if exact {
		n = int(float64(sessions)/sessionShare + 0.5)
	}
	others := contacts - enrolled
	if others == 0 {
		others = -1
	}
	convs := n
	if convs == 0 {
		convs = -1
	}
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed: seed, Participants: enrolled, OtherContacts: others, Conversations: convs,
		Days: days, Coaches: coaches, Employers: employers, Now: now, Timezone: "UTC",
	})
	cfg, err := defaultConfig(ws.Timezone())
	if err != nil {
		return nil, nil, err
	}
	st := &workspaceStats{
		Participants: enrolled, GeneratedAs: n, Coaches: coaches, Employers: employers, Days: days,
		Timezone: ws.Timezone(), GeneratedNowUnix: now.Unix(),
		lastConvNum: firstConvID + int64(n) - 1, deleted: map[int64]bool{},
		cfg: cfg, ecfg: cfg.Engagement(),
	}
	st.sessionChannelLookup = engagement.NewChannels(st.ecfg)
	if exact {
		if err := st.adjust(ws, sessions, seed); err != nil {
			return nil, nil, err
		}
	}
	st.Contacts = ws.NumContacts()
	st.ConversationsTotal = ws.NumConversations()
	st.GenerateSeconds = round2(time.Since(t0).Seconds())
	return ws, st, nil
}

func (st *workspaceStats) isSession(c *intercom.Conversation) bool {
	if c.State != "closed" {
		return false
	}
	ch, _ := c.CustomAttributes.String(st.cfg.ChannelAttribute)
	return st.sessionChannelLookup.Lookup(ch) >= 0
}

// adjust deletes surplus closed sessions or adds copies of existing ones
// (new ids, same times) until there are exactly want.
func (st *workspaceStats) adjust(ws *intercomtest.Workspace, want int, seed int64) error {
	all := ws.Conversations()
	var sessions []int
	for i := range all {
		if st.isSession(&all[i]) {
			sessions = append(sessions, i)
		}
	}
	have := len(sessions)
	rng := rand.New(rand.NewPCG(uint64(seed), 77))
	switch {
	case have > want:
		surplus := have - want
		pick := rng.Perm(have)[:surplus]
		for _, k := range pick {
			c := &all[sessions[k]]
			num, _ := strconv.ParseInt(c.ID, 10, 64)
			ws.DeleteConversation(c.ID)
			st.deleted[num] = true
		}
		st.Adjusted = -surplus
	case have < want:
		if have == 0 {
			return errors.New("the generator made no closed sessions to copy")
		}
		for range want - have {
			c := all[sessions[rng.IntN(have)]]
			st.lastConvNum++
			c.ID = strconv.FormatInt(st.lastConvNum, 10)
			ws.AddConversation(c)
		}
		st.Adjusted = want - have
	}
	st.ClosedSessions = want
	return nil
}

// dataFile is what the compute child reads.
type dataFile struct {
	Data     engagement.Data
	Now      time.Time
	Timezone string
}

// writeData maps the workspace to the rules' input the way the replica's
// full read does (closed conversations on a session channel; the contacts
// with a registration or last call attribute, plus every contact listed on
// a session) and writes it for the compute child. It returns the counts.
func (st *workspaceStats) writeData(ws *intercomtest.Workspace, path string, now time.Time) error {
	cfg := st.cfg
	start := (engagement.DayOf(now, st.ecfg.Location) - engagement.Day(st.ecfg.LookbackDays)).Start(st.ecfg.Location).Unix()
	var d engagement.Data
	listed := map[string]bool{}
	var listedIDs [][]string // each conversation's contacts, by id
	for _, c := range ws.Conversations() {
		if c.UpdatedAt < start || !st.isSession(&c) {
			continue
		}
		ch, _ := c.CustomAttributes.String(cfg.ChannelAttribute)
		ec := engagement.Conversation{ID: c.ID, CreatedAt: c.CreatedAt, State: c.State, Channel: ch, AdminID: string(c.AdminAssigneeID)}
		var ids []string
		for _, ref := range c.Contacts.Contacts {
			ids = append(ids, ref.ID)
			listed[ref.ID] = true
		}
		d.Conversations = append(d.Conversations, ec)
		listedIDs = append(listedIDs, ids)
	}
	attrs := slices.Clone(cfg.RegistrationAttributes)
	if !slices.Contains(attrs, cfg.LastCallAttribute) {
		attrs = append(attrs, cfg.LastCallAttribute)
	}
	loc := st.ecfg.Location
	stamp := func(c *intercom.Contact, name string) *engagement.Stamp {
		v, err := c.CustomAttributes.Time(name)
		if err != nil {
			return nil
		}
		var s engagement.Stamp
		if v.DateOnly {
			day := engagement.DateDay(v.Year, v.Month, v.Day)
			s = engagement.Stamp{Unix: day.Start(loc).Unix(), Day: day}
		} else {
			s = engagement.Stamp{Unix: v.Unix, Day: engagement.DayOfUnix(v.Unix, loc)}
		}
		return &s
	}
	for _, c := range ws.Contacts() {
		keep := listed[c.ID]
		for _, a := range attrs {
			keep = keep || c.CustomAttributes.Present(a)
		}
		if !keep {
			continue
		}
		ec := engagement.Contact{ID: c.ID, ExternalID: c.ExternalID, Name: c.Name, Email: c.Email, OwnerID: string(c.OwnerID), UpdatedAt: c.UpdatedAt}
		ec.Employer, _ = c.CustomAttributes.String(cfg.EmployerAttribute)
		ec.StoredStatus, _ = c.CustomAttributes.String(cfg.StatusAttribute)
		for _, a := range cfg.RegistrationAttributes {
			if s := stamp(&c, a); s != nil && ec.Registration == nil {
				// The generator's registration attributes are dates: read
				// as the exporter reads date-typed values.
				r := engagement.DateAttributeStamp(s.Unix, loc)
				ec.Registration = &r
			}
		}
		ec.StoredLastCall = stamp(&c, cfg.LastCallAttribute)
		if ec.Registration != nil {
			st.Enrolled++
		}
		d.Contacts = append(d.Contacts, ec)
	}
	slices.SortFunc(d.Contacts, func(a, b engagement.Contact) int { return engagement.CompareIDs(a.ID, b.ID) })
	// Contacts listed by index, each once, in the order listed; those
	// listed but absent are appended as Unread, as the replica's store does.
	at := make(map[string]int32, len(d.Contacts))
	for i := range d.Contacts {
		at[d.Contacts[i].ID] = int32(i)
	}
	for i, ids := range listedIDs {
		for _, id := range ids {
			if id == "" {
				continue
			}
			k, ok := at[id]
			if !ok {
				k = int32(len(d.Contacts))
				at[id] = k
				d.Contacts = append(d.Contacts, engagement.Contact{ID: id, Unread: true})
			}
			if !slices.Contains(d.Conversations[i].ContactIdx, k) {
				d.Conversations[i].ContactIdx = append(d.Conversations[i].ContactIdx, k)
			}
		}
	}
	for _, a := range ws.Admins() {
		d.Admins = append(d.Admins, engagement.Admin{ID: a.ID, Name: a.Name})
	}
	d.AdminsKnown = true
	st.DataContacts, st.DataConversations = len(d.Contacts), len(d.Conversations)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(dataFile{Data: d, Now: now, Timezone: st.Timezone}); err != nil {
		f.Close()
		return fmt.Errorf("encoding the rules' input: %w", err)
	}
	return f.Close()
}

// changeSet is what was changed before the incremental refresh.
type changeSet struct {
	Conversations int   `json:"conversations_changed"`
	Reopened      int   `json:"reopened"`
	Reassigned    int   `json:"reassigned"`
	Rechanneled   int   `json:"channel_changed"`
	Touched       int   `json:"touched"`
	Contacts      int   `json:"contacts_changed"`
	At            int64 `json:"changed_at_unix"`
}

// change changes pct% of the conversations (of the closed session count)
// and pct% of the contacts, as teammates would in Intercom, all with
// updated_at = now.
func (st *workspaceStats) change(ws *intercomtest.Workspace, pct float64, seed int64, now time.Time, coachIDs []string) changeSet {
	rng := rand.New(rand.NewPCG(uint64(seed), 4242))
	at := now.Unix()
	cs := changeSet{At: at}
	nConv := int(float64(st.ClosedSessions)*pct/100 + 0.5)
	span := st.lastConvNum - firstConvID + 1
	picked := map[int64]bool{}
	for len(picked) < nConv && int64(len(picked)) < span-int64(len(st.deleted)) {
		num := firstConvID + rng.Int64N(span)
		if picked[num] || st.deleted[num] {
			continue
		}
		picked[num] = true
		kind := rng.IntN(10)
		ws.UpdateConversation(strconv.FormatInt(num, 10), func(c *intercom.Conversation) {
			c.UpdatedAt = at
			switch {
			case kind == 0 && c.State == "closed":
				c.State = "open"
				cs.Reopened++
			case kind == 1:
				if c.CustomAttributes == nil {
					c.CustomAttributes = intercom.Attributes{}
				}
				c.CustomAttributes[st.cfg.ChannelAttribute] = []byte(`"Video Conference"`)
				cs.Rechanneled++
			case kind <= 7 && len(coachIDs) > 0:
				c.AdminAssigneeID = intercom.ID(coachIDs[rng.IntN(len(coachIDs))])
				cs.Reassigned++
			default:
				cs.Touched++
			}
		})
	}
	cs.Conversations = len(picked)
	contacts := ws.Contacts()
	nContacts := int(float64(len(contacts))*pct/100 + 0.5)
	for _, k := range rng.Perm(len(contacts))[:min(nContacts, len(contacts))] {
		c := contacts[k]
		if rng.IntN(2) == 0 {
			ws.SetContactAttribute(c.ID, intercomtest.AttrEmployer, fmt.Sprintf("Reorganised %d", rng.IntN(40)), at)
		} else {
			ws.SetContactAttribute(c.ID, intercomtest.AttrLastCoachingCall, at-int64(rng.IntN(20))*86400, at)
		}
		cs.Contacts++
	}
	return cs
}

// countSince counts the conversations updated at or after convFrom and the
// contacts updated at or after contactFrom, and the closed sessions now.
func (st *workspaceStats) countSince(ws *intercomtest.Workspace, convFrom, contactFrom int64) (convs, contacts, sessions int) {
	for _, c := range ws.Conversations() {
		if c.UpdatedAt >= convFrom {
			convs++
		}
		if st.isSession(&c) {
			sessions++
		}
	}
	for _, c := range ws.Contacts() {
		if c.UpdatedAt >= contactFrom {
			contacts++
		}
	}
	return convs, contacts, sessions
}

// dayStart is the start of the calendar day of unix in the timezone.
func dayStart(unix int64, tz string) int64 {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	t := time.Unix(unix, 0).In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc).Unix()
}
