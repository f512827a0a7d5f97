package intercomtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// GenerateOptions size a generated workspace. Zero values take defaults.
type GenerateOptions struct {
	Seed          int64
	Participants  int // enrolled participants, default 2000
	OtherContacts int // contacts not enrolled, default Participants/2 (negative: none)
	Conversations int // default 20000 (negative: none)
	Days          int // conversations span the last Days days, default 365
	Coaches       int // admins, default 12
	Employers     int // default 25
	Now           time.Time
	Timezone      string // default "UTC"
}

// Names of the generated data attributes and their values.
const (
	AttrRegistrationDate = "Registration Date"
	AttrEnrolledDate     = "Enrolled Date"
	AttrEmployer         = "Employer"
	AttrLastCoachingCall = "Last Coaching Call"
	AttrEngagementStatus = "Engagement Status"
	AttrChannel          = "Channel"
)

// AddCoachingAttributes adds the data attributes of the coaching programme
// (contact: Registration Date, Enrolled Date, Last Coaching Call as dates;
// Employer, Engagement Status as strings; conversation: Channel), all
// writable through the API.
func (w *Workspace) AddCoachingAttributes() {
	for _, a := range []struct{ name, model, typ string }{
		{AttrRegistrationDate, "contact", "date"},
		{AttrEnrolledDate, "contact", "date"},
		{AttrEmployer, "contact", "string"},
		{AttrLastCoachingCall, "contact", "date"},
		{AttrEngagementStatus, "contact", "string"},
		{AttrChannel, "conversation", "string"},
	} {
		w.AddDataAttribute(intercom.DataAttribute{Name: a.name, Model: a.model, DataType: a.typ, APIWritable: true, Custom: true})
	}
}

var (
	firstNames = []string{"Ava", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hugo", "Isla", "Jonas",
		"Kemi", "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara",
		"Uma", "Victor", "Wen", "Xavier", "Yara", "Zane", "Aisha", "Bruno", "Carmen", "Diego",
		"Emil", "Fatima", "Gabe", "Hana", "Ivan", "Jia", "Kofi", "Lena", "Marco", "Nadia"}
	lastNames = []string{"Adams", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
		"Khan", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Quinn", "Rossi", "Smith", "Tanaka",
		"Usman", "Varga", "Walsh", "Xu", "Yilmaz", "Zhang", "Moreau", "Novak", "Silva", "Kowalski"}
	employerStems = []string{"Northwind", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent",
		"Tyrell", "Wonka", "Cyberdyne", "Stark", "Wayne", "Dunder", "Pied Piper", "Gringotts",
		"Oceanic", "Monarch", "Sterling", "Aperture"}
	employerKinds = []string{"Health", "Logistics", "Foods", "Energy", "Bank", "Retail", "Labs", "Transit", "Insurance", "Media"}
	emailDomains  = []string{"example.com", "example.org", "example.net"}
)

// Session channels and the spellings generated for them: mostly canonical,
// some with other case or surrounding spaces.
var sessionChannels = []struct {
	weight   float64
	variants []string
}{
	{0.38, []string{"Phone", " phone ", "PHONE"}},
	{0.32, []string{"Video Conference", "VIDEO CONFERENCE", "video conference "}},
	{0.15, []string{"Email", "email"}},
	{0.15, []string{"Chat", " Chat"}},
}

type genParticipant struct {
	contact  int // index into contacts
	regAt    int64
	from, to int64 // window of its sessions; to < from means none
	owner    string
	lastCall int64
}

type genConv struct {
	seq              int32 // generation order, the tie-break of the id order
	created, updated int64
	state            string
	admin, team      string
	attrs            uint32
	refs             []int32 // contact indices
}

// Generate builds a realistic coaching workspace, the same for the same
// options: enrolled participants (registration dates mostly valid, some as
// an ISO date in Enrolled Date, some invalid), contacts not enrolled,
// employers in a Zipf-like mix (some missing, empty or padded with spaces),
// a roster of coaches (two of them sharing a name), owners on some contacts,
// and conversations over the last Days days: mostly closed sessions on
// Phone, Video Conference, Email and Chat (some spelled " phone " or
// "VIDEO CONFERENCE"), plus open and snoozed ones, other channels (Social,
// SMS), missing channels, unassigned ones (admin 0 or null) and some with
// two contacts. Participants are active, lapsing or never seen; some carry
// a stored Last Coaching Call (a few in milliseconds) and Engagement Status.
//
// It panics if Now is zero or Timezone unknown (mistakes in the set-up).
func Generate(o GenerateOptions) *Workspace {
	if o.Now.IsZero() {
		panic("intercomtest: GenerateOptions.Now is required")
	}
	if o.Participants <= 0 {
		o.Participants = 2000
	}
	switch {
	case o.OtherContacts == 0:
		o.OtherContacts = o.Participants / 2
	case o.OtherContacts < 0:
		o.OtherContacts = 0
	}
	switch {
	case o.Conversations == 0:
		o.Conversations = 20000
	case o.Conversations < 0:
		o.Conversations = 0
	}
	if o.Days <= 0 {
		o.Days = 365
	}
	if o.Coaches <= 0 {
		o.Coaches = 12
	}
	if o.Employers <= 0 {
		o.Employers = 25
	}
	w := NewWorkspace(o.Timezone)
	w.AddCoachingAttributes()
	g := &generator{
		o:   o,
		w:   w,
		rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15)),
		now: o.Now.Unix(),
	}
	g.admins()
	g.employers()
	g.contacts()
	g.conversations()
	g.storedCalls()
	g.load()
	return w
}

type generator struct {
	o   GenerateOptions
	w   *Workspace
	rng *rand.Rand
	now int64

	coaches      []intercom.Admin
	employerName []string
	employerCum  []float64
	contactsOut  []intercom.Contact
	parts        []genParticipant
	convs        []genConv
}

const day = 86400

func (g *generator) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.Int64N(hi-lo+1)
}

func (g *generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *generator) admins() {
	for i := range g.o.Coaches {
		first := firstNames[(i*7+3)%len(firstNames)]
		last := lastNames[(i*11+5)%len(lastNames)]
		if i >= len(firstNames) {
			last += " " + strconv.Itoa(i/len(firstNames)+1)
		}
		id := strconv.Itoa(4100001 + i*13)
		g.coaches = append(g.coaches, intercom.Admin{
			ID:    id,
			Name:  first + " " + last,
			Email: fmt.Sprintf("coach%d@coaching.example", i+1),
		})
	}
	if n := len(g.coaches); n >= 2 {
		// Two coaches with one name: "Name (id)" disambiguation.
		g.coaches[n-1].Name = g.coaches[0].Name
	}
}

func (g *generator) employers() {
	total := 0.0
	for k := range g.o.Employers {
		stem := employerStems[k%len(employerStems)]
		kind := employerKinds[(k/len(employerStems)+k)%len(employerKinds)]
		name := stem + " " + kind
		if k >= len(employerStems)*len(employerKinds) {
			name += " " + strconv.Itoa(k)
		}
		g.employerName = append(g.employerName, name)
		total += 1 / math.Pow(float64(k+1), 1.07)
		g.employerCum = append(g.employerCum, total)
	}
}

// employer is a Zipf-like pick.
func (g *generator) employer() string {
	x := g.rng.Float64() * g.employerCum[len(g.employerCum)-1]
	return g.employerName[sort.SearchFloat64s(g.employerCum, x)]
}

func rawString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func rawInt(n int64) json.RawMessage { return json.RawMessage(strconv.FormatInt(n, 10)) }

func (g *generator) contacts() {
	total := g.o.Participants + g.o.OtherContacts
	prefix := g.rng.Uint32() & 0x0fffffff
	g.contactsOut = make([]intercom.Contact, total)
	windowStart := g.now - int64(g.o.Days)*day
	for i := range total {
		participant := i < g.o.Participants
		first, last := g.pick(firstNames), g.pick(lastNames)
		c := intercom.Contact{
			ID:               fmt.Sprintf("6%07x%016x", prefix, i+1),
			Role:             "user",
			Name:             first + " " + last,
			Email:            fmt.Sprintf("%s.%s%d@%s", lower(first), lower(last), i+1, g.pick(emailDomains)),
			CustomAttributes: intercom.Attributes{},
		}
		attrs := c.CustomAttributes
		r := g.rng.Float64()
		switch {
		case r < 0.04: // no employer
		case r < 0.06:
			attrs[AttrEmployer] = rawString("")
		case r < 0.09:
			attrs[AttrEmployer] = rawString("  " + g.employer() + " ")
		default:
			attrs[AttrEmployer] = rawString(g.employer())
		}
		if !participant {
			if g.rng.Float64() < 0.6 {
				c.Role = "lead"
			}
			if g.rng.Float64() < 0.5 {
				c.ExternalID = fmt.Sprintf("X%06d", i+1)
			}
			if g.rng.Float64() < 0.5 {
				delete(attrs, AttrEmployer)
			}
			c.CreatedAt = g.between(windowStart-365*day, g.now-day)
			c.UpdatedAt = g.between(c.CreatedAt, g.now)
			g.contactsOut[i] = c
			continue
		}
		c.ExternalID = fmt.Sprintf("P%06d", i+1)
		p := genParticipant{contact: i}
		if g.rng.Float64() < 0.15 {
			p.regAt = g.between(windowStart-180*day, windowStart)
		} else {
			p.regAt = g.between(windowStart, g.now-3600)
		}
		g.registration(attrs, p.regAt)
		if g.rng.Float64() < 0.35 {
			p.owner = g.coaches[g.rng.IntN(len(g.coaches))].ID
			c.OwnerID = intercom.ID(p.owner)
		}
		// Recency: active (sessions up to now), lapsing (sessions that
		// stopped 3 to 17 weeks ago) or never seen.
		p.from = max(p.regAt, windowStart)
		switch r := g.rng.Float64(); {
		case r < 0.55:
			p.to = g.now
		case r < 0.80:
			p.to = g.between(g.now-120*day, g.now-21*day)
		default:
			p.to = p.from - 1
		}
		c.CreatedAt = p.regAt - g.between(0, 30*day)
		c.UpdatedAt = g.between(max(c.CreatedAt, g.now-60*day), g.now)
		g.contactsOut[i] = c
		g.parts = append(g.parts, p)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// registration stores a participant's registration date in one of the ways
// seen in real workspaces. Registration Date is a date attribute: Intercom
// keeps a date set in its interface or imported at 00:00:00 UTC of that
// date, so most values are that midnight; some hold a full instant (set
// through the API with a time of day).
func (g *generator) registration(attrs intercom.Attributes, at int64) {
	local := time.Unix(at, 0).In(g.w.loc)
	isoDay := local.Format(time.DateOnly)
	utcMidnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC).Unix()
	invalid := func() json.RawMessage {
		switch g.rng.IntN(3) {
		case 0:
			return rawInt(at * 1000) // milliseconds
		case 1:
			return rawString("early " + time.Unix(at, 0).UTC().Format("January"))
		}
		return rawInt(0)
	}
	switch r := g.rng.Float64(); {
	case r < 0.62:
		attrs[AttrRegistrationDate] = rawInt(utcMidnight)
	case r < 0.70:
		attrs[AttrRegistrationDate] = rawInt(at)
	case r < 0.74:
		attrs[AttrRegistrationDate] = rawString(strconv.FormatInt(utcMidnight, 10))
	case r < 0.77:
		attrs[AttrRegistrationDate] = rawString(time.Unix(at, 0).UTC().Format(time.RFC3339))
	case r < 0.89:
		attrs[AttrEnrolledDate] = rawString(isoDay)
	case r < 0.96:
		attrs[AttrRegistrationDate] = invalid()
		attrs[AttrEnrolledDate] = rawString(isoDay)
	default:
		attrs[AttrRegistrationDate] = invalid()
	}
}

func (g *generator) channelAttrs(cache map[string]uint32, channel string, present bool) uint32 {
	key := channel
	if !present {
		key = "\x00absent"
	}
	if i, ok := cache[key]; ok {
		return i
	}
	var i uint32
	switch {
	case !present:
		i = 0
	case channel == "\x00null":
		i = g.w.intern(`{"Channel":null}`)
	default:
		i = g.w.intern(`{"Channel":` + string(rawString(channel)) + `}`)
	}
	cache[key] = i
	return i
}

func (g *generator) sessionChannel() string {
	x := g.rng.Float64()
	for _, ch := range sessionChannels {
		if x < ch.weight || ch.variants[0] == "Chat" {
			if g.rng.Float64() < 0.92 {
				return ch.variants[0]
			}
			return ch.variants[1+g.rng.IntN(len(ch.variants)-1)]
		}
		x -= ch.weight
	}
	return "Phone"
}

func (g *generator) conversations() {
	n := g.o.Conversations
	if n == 0 {
		return
	}
	// Participants with sessions, weighted by the length of their window.
	var active []int
	var cum []float64
	total := 0.0
	for k, p := range g.parts {
		if p.to >= p.from {
			active = append(active, k)
			total += float64(p.to-p.from) + day
			cum = append(cum, total)
		}
	}
	nContacts := len(g.contactsOut)
	windowStart := g.now - int64(g.o.Days)*day
	cache := map[string]uint32{}
	g.convs = make([]genConv, n)
	for i := range g.convs {
		c := &g.convs[i]
		c.seq = int32(i)
		c.state = "closed"
		var who int32 = -1
		var owner string
		kind := g.rng.Float64()
		switch {
		case kind < 0.80 && len(active) > 0: // a session
			k := active[sort.SearchFloat64s(cum, g.rng.Float64()*total)]
			p := &g.parts[k]
			who, owner = int32(p.contact), p.owner
			c.created = g.between(p.from, p.to)
			c.attrs = g.channelAttrs(cache, g.sessionChannel(), true)
			switch r := g.rng.Float64(); {
			case r < 0.05:
				c.state = "open"
				c.created = g.between(max(p.from, g.now-21*day), g.now)
			case r < 0.08:
				c.state = "snoozed"
				c.created = g.between(max(p.from, g.now-21*day), g.now)
			}
		default: // not a session, or a conversation of a contact not enrolled
			if nContacts > 0 {
				who = int32(g.rng.IntN(nContacts))
			}
			c.created = g.between(windowStart, g.now)
			switch r := g.rng.Float64(); {
			case r < 0.25:
				c.attrs = g.channelAttrs(cache, "Social", true)
			case r < 0.45:
				c.attrs = g.channelAttrs(cache, "SMS", true)
			case r < 0.55:
				c.attrs = g.channelAttrs(cache, "", false)
			case r < 0.62:
				c.attrs = g.channelAttrs(cache, "\x00null", true)
			case r < 0.67:
				c.attrs = g.channelAttrs(cache, "", true)
			default:
				c.attrs = g.channelAttrs(cache, g.sessionChannel(), true)
			}
			if g.rng.Float64() < 0.15 {
				c.state = "open"
			}
		}
		if who >= 0 {
			c.refs = []int32{who}
			if g.rng.Float64() < 0.04 && nContacts > 1 {
				other := int32(g.rng.IntN(nContacts - 1))
				if other >= who {
					other++
				}
				c.refs = append(c.refs, other)
			}
		}
		switch r := g.rng.Float64(); {
		case r < 0.04:
			c.admin = "0"
		case r < 0.08:
			c.admin = ""
		case owner != "" && r < 0.80:
			c.admin = owner
		default:
			c.admin = g.coaches[g.rng.IntN(len(g.coaches))].ID
		}
		if g.rng.Float64() < 0.4 {
			c.team = "5017691"
		}
		c.updated = min(g.now, c.created+g.between(60, 3*day))
		if g.rng.Float64() < 0.03 {
			c.updated = g.between(max(c.created, g.now-10*day), g.now)
		}
	}
	// Intercom's conversation ids grow with creation time.
	slices.SortFunc(g.convs, func(a, b genConv) int {
		if c := cmp.Compare(a.created, b.created); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// storedCalls gives some participants a stored Last Coaching Call and
// Engagement Status, as a previous sync would have left them: current,
// stale, or (a few) in milliseconds.
func (g *generator) storedCalls() {
	byContact := make(map[int32]int, len(g.parts))
	for k, p := range g.parts {
		byContact[int32(p.contact)] = k
	}
	for i := range g.convs {
		c := &g.convs[i]
		if c.state != "closed" {
			continue
		}
		ch := g.w.strs[c.attrs]
		if ch != `{"Channel":"Phone"}` && ch != `{"Channel":"Video Conference"}` {
			continue
		}
		for _, who := range c.refs {
			if k, ok := byContact[who]; ok {
				g.parts[k].lastCall = max(g.parts[k].lastCall, c.created)
			}
		}
	}
	for _, p := range g.parts {
		r := g.rng.Float64()
		if p.lastCall == 0 || r >= 0.45 {
			continue
		}
		c := &g.contactsOut[p.contact]
		at := p.lastCall
		if g.rng.Float64() < 0.3 {
			at -= g.between(7*day, 30*day) // stale: written before the latest call
		}
		if g.rng.Float64() < 0.03 {
			c.CustomAttributes[AttrLastCoachingCall] = rawInt(at * 1000)
		} else {
			c.CustomAttributes[AttrLastCoachingCall] = rawInt(at)
		}
		days := (g.now - at) / day
		status := "Unengaged"
		switch {
		case days <= 28:
			status = "Engaged"
		case days <= 56:
			status = "At Risk"
		}
		c.CustomAttributes[AttrEngagementStatus] = rawString(status)
		c.UpdatedAt = max(c.UpdatedAt, min(g.now, at+day))
	}
}

// load puts everything in the workspace in one go.
func (g *generator) load() {
	w := g.w
	for _, a := range g.coaches {
		w.AddAdmin(a)
	}
	w.mu.Lock()
	w.contacts = slices.Grow(w.contacts, len(g.contactsOut))
	for _, c := range g.contactsOut {
		w.addContactLocked(c)
	}
	refOf := make([]uint32, len(g.contactsOut))
	for i, c := range g.contactsOut {
		refOf[i] = w.internRef(intercom.ContactRef{ID: c.ID, ExternalID: c.ExternalID})
	}
	w.convs = slices.Grow(w.convs, len(g.convs))
	nRefs := 0
	for i := range g.convs {
		nRefs += len(g.convs[i].refs)
	}
	w.refArena = slices.Grow(w.refArena, nRefs)
	const firstID = 100_000_000
	for i := range g.convs {
		c := &g.convs[i]
		k := int32(len(w.convs))
		r := convRec{
			num:       firstID + int64(i),
			createdAt: c.created,
			updatedAt: c.updated,
			state:     w.intern(c.state),
			admin:     w.intern(c.admin),
			team:      w.intern(c.team),
			attrs:     c.attrs,
			refOff:    uint32(len(w.refArena)),
			refN:      uint16(len(c.refs)),
			alive:     true,
		}
		for _, who := range c.refs {
			w.refArena = append(w.refArena, refOf[who])
		}
		w.convs = append(w.convs, r)
		w.convByNum[r.num] = k
		w.convIndex.add(k, w.convKey(k), w.convKey)
	}
	w.liveConvs += len(g.convs)
	w.changed()
	g.convs = nil
	w.mu.Unlock()
	// Order the indexes now rather than on the first search.
	w.rlockContacts()
	w.mu.RUnlock()
	w.rlockConversations()
	w.mu.RUnlock()
}
