package intercomtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// Workspace is the in-memory data of one Intercom workspace. It is safe for
// concurrent use through the Server; its methods are the mutation helpers
// for tests (hand edits in Intercom, reopened conversations, deletions).
//
// Conversations are stored compactly (about 100 bytes each plus their
// contact references and interned strings), so that a workspace of a
// million conversations fits in modest memory.
type Workspace struct {
	mu      sync.RWMutex
	tzName  string
	loc     *time.Location
	app     appInfo
	me      intercom.Admin
	version uint64 // bumped on every change; keys the search count cache

	admins []intercom.Admin

	attrs      []dataAttr
	nextAttrID int

	contacts     []contactRec
	contactByID  map[string]int32
	contactIndex sortedIndex
	liveContacts int

	convs      []convRec
	convByNum  map[int64]int32
	convByStr  map[string]int32
	convIndex  sortedIndex
	liveConvs  int
	refArena   []uint32 // contact reference numbers of all conversations
	refs       []intercom.ContactRef
	refByValue map[intercom.ContactRef]uint32
	strs       []string // interned strings; strs[0] == ""
	strByValue map[string]uint32

	countMu    sync.Mutex
	countCache map[string]int // search totals, for the current version
	countVer   uint64

	// The search index's lag (lag.go): the versions the search still sees.
	lag        time.Duration
	lagNow     func() time.Time
	convLag    map[int32]*lagged[convRec]
	contactLag map[int32]*lagged[intercom.Contact]
}

type appInfo struct {
	IDCode    string
	Name      string
	Region    string
	CreatedAt int64
}

type dataAttr struct {
	intercom.DataAttribute
	id          int // custom attributes only
	description string
	createdAt   int64
}

type contactRec struct {
	c     intercom.Contact
	num   int64
	alive bool
}

// convRec is a conversation as stored. Strings that repeat (state, admin
// and team ids, the encoded custom attributes) are interned.
type convRec struct {
	num       int64  // numeric id, or -1
	id        string // only when num < 0
	createdAt int64
	updatedAt int64
	state     uint32
	admin     uint32
	team      uint32
	attrs     uint32 // JSON object of the custom attributes, or "" for none
	refOff    uint32 // contacts: refArena[refOff : refOff+refN]
	refN      uint16
	alive     bool
}

func (r *convRec) idString() string {
	if r.num >= 0 {
		return strconv.FormatInt(r.num, 10)
	}
	return r.id
}

// builtinContactAttributes are the standard contact data attributes that
// GET /data_attributes?model=contact lists before the custom ones.
var builtinContactAttributes = []dataAttr{
	builtin("id", "ID", "The Intercom defined id representing the contact", "string", false),
	builtin("external_id", "User ID", "A unique identifier for the contact which is given to Intercom", "string", true),
	builtin("role", "Role", "The role of the contact: user or lead", "string", true),
	builtin("name", "Name", "The name of the contact", "string", true),
	builtin("email", "Email", "The email address of the contact", "string", true),
	builtin("phone", "Phone", "The phone number of the contact", "string", true),
	builtin("owner_id", "Owner", "The id of the admin that owns the contact", "integer", true),
	builtin("created_at", "Created at", "The time the contact was added to Intercom", "date", false),
	builtin("updated_at", "Updated at", "The last time the contact was updated", "date", false),
	builtin("signed_up_at", "Signed up", "The time the contact signed up", "date", true),
	builtin("last_seen_at", "Last seen", "The last time the contact was seen", "date", true),
	builtin("unsubscribed_from_emails", "Unsubscribed from emails", "Whether the contact is unsubscribed from emails", "boolean", true),
}

func builtin(name, label, description, dataType string, writable bool) dataAttr {
	return dataAttr{
		DataAttribute: intercom.DataAttribute{
			Name: name, FullName: name, Label: label, Model: "contact",
			DataType: dataType, APIWritable: writable,
		},
		description: description,
	}
}

// SetAppID changes the app id (GET /me's app id_code) the workspace
// answers with, to stand for another workspace ("coachingdemo" by default).
func (w *Workspace) SetAppID(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.app.IDCode = id
}

// NewWorkspace returns an empty workspace whose app (GET /me) reports the
// given IANA timezone ("" means UTC). It has the built-in contact data
// attributes; custom ones are added with AddDataAttribute. It panics on an
// unknown timezone, like a regexp.MustCompile: that is a mistake in the
// test or demo set-up, not a condition to handle.
func NewWorkspace(timezone string) *Workspace {
	if timezone == "" {
		timezone = "UTC"
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		panic(fmt.Sprintf("intercomtest: timezone %q: %v", timezone, err))
	}
	w := &Workspace{
		tzName:      timezone,
		loc:         loc,
		app:         appInfo{IDCode: "coachingdemo", Name: "Coaching Programme", Region: "US", CreatedAt: 1577836800},
		me:          intercom.Admin{ID: "7000001", Name: "Reporting API", Email: "reporting-api@coaching.example"},
		contactByID: map[string]int32{},
		convByNum:   map[int64]int32{},
		convByStr:   map[string]int32{},
		refByValue:  map[intercom.ContactRef]uint32{},
		strs:        []string{""},
		strByValue:  map[string]uint32{"": 0},
		nextAttrID:  100,
	}
	w.attrs = slices.Clone(builtinContactAttributes)
	return w
}

// Timezone is the workspace's timezone, as GET /me reports it.
func (w *Workspace) Timezone() string { return w.tzName }

// changed records a mutation; callers hold w.mu.
func (w *Workspace) changed() { w.version++ }

func (w *Workspace) intern(s string) uint32 {
	if i, ok := w.strByValue[s]; ok {
		return i
	}
	i := uint32(len(w.strs))
	w.strs = append(w.strs, s)
	w.strByValue[s] = i
	return i
}

// ---- admins ----

// AddAdmin adds a teammate (GET /admins), or replaces the one with its id.
// Admin ids should be numeric strings: conversations refer to them by
// integer admin_assignee_id.
func (w *Workspace) AddAdmin(a intercom.Admin) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed()
	for i := range w.admins {
		if w.admins[i].ID == a.ID {
			w.admins[i] = a
			return
		}
	}
	w.admins = append(w.admins, a)
}

// Admins are the workspace's teammates in the order they were added.
func (w *Workspace) Admins() []intercom.Admin {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return slices.Clone(w.admins)
}

func (w *Workspace) adminByID(id string) (intercom.Admin, bool) {
	for _, a := range w.admins {
		if a.ID == id {
			return a, true
		}
	}
	return intercom.Admin{}, false
}

// ---- data attributes ----

// AddDataAttribute adds a data attribute, or replaces the one of the same
// model and name (to archive it, say). Model defaults to "contact".
// Attributes are custom unless FullName names a standard field: their
// FullName becomes "custom_attributes.<Name>" and Label defaults to Name.
func (w *Workspace) AddDataAttribute(a intercom.DataAttribute) {
	if a.Model == "" {
		a.Model = "contact"
	}
	if a.Custom || a.FullName == "" || strings.HasPrefix(a.FullName, "custom_attributes.") {
		a.Custom = true
		a.FullName = "custom_attributes." + a.Name
	}
	if a.Label == "" {
		a.Label = a.Name
	}
	if a.DataType == "" {
		a.DataType = "string"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed()
	d := dataAttr{DataAttribute: a, description: a.Label, createdAt: w.app.CreatedAt}
	for i := range w.attrs {
		if w.attrs[i].Model == a.Model && w.attrs[i].Name == a.Name {
			d.id = w.attrs[i].id
			w.attrs[i] = d
			return
		}
	}
	if a.Custom {
		d.id = w.nextAttrID
		w.nextAttrID++
	}
	w.attrs = append(w.attrs, d)
}

// DataAttributes lists the data attributes of a model ("" for all).
func (w *Workspace) DataAttributes(model string) []intercom.DataAttribute {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []intercom.DataAttribute
	for _, a := range w.attrs {
		if model == "" || a.Model == model {
			out = append(out, a.DataAttribute)
		}
	}
	return out
}

// customAttr finds a live custom attribute of a model; callers hold w.mu.
func (w *Workspace) customAttr(model, name string) (dataAttr, bool) {
	for _, a := range w.attrs {
		if a.Model == model && a.Custom && !a.Archived && a.Name == name {
			return a, true
		}
	}
	return dataAttr{}, false
}

// ---- contacts ----

func (w *Workspace) contactKey(i int32) orderKey {
	r := &w.contacts[i]
	return orderKey{at: r.c.UpdatedAt, num: r.num, id: r.c.ID}
}

// AddContact adds a contact, or replaces the one with its id. Its custom
// attributes are kept as given (copied) and its updated_at as given.
func (w *Workspace) AddContact(c intercom.Contact) {
	c.CustomAttributes = maps.Clone(c.CustomAttributes)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addContactLocked(c)
}

func (w *Workspace) addContactLocked(c intercom.Contact) {
	w.changed()
	if i, ok := w.contactByID[c.ID]; ok {
		w.holdContact(i, true)
		w.contactIndex.remove(i, w.contactKey(i), w.contactKey)
		w.contacts[i].c = c
		w.contactIndex.insert(i, w.contactKey(i), w.contactKey)
		return
	}
	i := int32(len(w.contacts))
	w.contacts = append(w.contacts, contactRec{c: c, num: numericID(c.ID), alive: true})
	w.contactByID[c.ID] = i
	w.holdContact(i, false)
	w.liveContacts++
	w.contactIndex.add(i, w.contactKey(i), w.contactKey)
}

// updateContactLocked applies fn to contact i, keeping the index in order.
func (w *Workspace) updateContactLocked(i int32, fn func(*intercom.Contact)) {
	w.changed()
	w.holdContact(i, true)
	w.contactIndex.remove(i, w.contactKey(i), w.contactKey)
	fn(&w.contacts[i].c)
	w.contactIndex.insert(i, w.contactKey(i), w.contactKey)
}

// SetContactAttribute sets one custom attribute of a contact as a teammate
// editing it in Intercom would: value is encoded as JSON (nil is null; a
// json.RawMessage is used as is) and updated_at becomes updatedAt (0 leaves
// it unchanged). It panics if the contact does not exist or the value
// cannot be encoded: both are mistakes in the test.
func (w *Workspace) SetContactAttribute(id, name string, value any, updatedAt int64) {
	raw, err := json.Marshal(value)
	if err != nil {
		panic(fmt.Sprintf("intercomtest: SetContactAttribute %q %q: %v", id, name, err))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.contactByID[id]
	if !ok {
		panic(fmt.Sprintf("intercomtest: SetContactAttribute: no contact %q", id))
	}
	w.updateContactLocked(i, func(c *intercom.Contact) {
		if c.CustomAttributes == nil {
			c.CustomAttributes = intercom.Attributes{}
		}
		c.CustomAttributes[name] = raw
		if updatedAt != 0 {
			c.UpdatedAt = updatedAt
		}
	})
}

// DeleteContact removes a contact (no-op for unknown ids). Conversations
// keep listing it, as Intercom's do.
func (w *Workspace) DeleteContact(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.contactByID[id]
	if !ok {
		return
	}
	w.changed()
	delete(w.contactLag, i)
	w.contactIndex.remove(i, w.contactKey(i), w.contactKey)
	delete(w.contactByID, id)
	w.contacts[i] = contactRec{}
	w.liveContacts--
}

// Contact returns a copy of the contact with this id.
func (w *Workspace) Contact(id string) (intercom.Contact, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	i, ok := w.contactByID[id]
	if !ok {
		return intercom.Contact{}, false
	}
	c := w.contacts[i].c
	c.CustomAttributes = maps.Clone(c.CustomAttributes)
	return c, true
}

// Contacts returns copies of all contacts, in the order they were added.
func (w *Workspace) Contacts() []intercom.Contact {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]intercom.Contact, 0, w.liveContacts)
	for _, r := range w.contacts {
		if r.alive {
			c := r.c
			c.CustomAttributes = maps.Clone(c.CustomAttributes)
			out = append(out, c)
		}
	}
	return out
}

// NumContacts is the number of contacts.
func (w *Workspace) NumContacts() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.liveContacts
}

// ---- conversations ----

func (w *Workspace) convKey(i int32) orderKey {
	r := &w.convs[i]
	return orderKey{at: r.updatedAt, num: r.num, id: r.id}
}

func (w *Workspace) convIndexOf(id string) (int32, bool) {
	if n := numericID(id); n >= 0 {
		i, ok := w.convByNum[n]
		return i, ok
	}
	i, ok := w.convByStr[id]
	return i, ok
}

// encodeAttrs interns the JSON object of custom attributes (keys sorted).
func (w *Workspace) encodeAttrs(a intercom.Attributes) uint32 {
	if len(a) == 0 {
		return 0
	}
	b, err := json.Marshal(map[string]json.RawMessage(a))
	if err != nil {
		panic(fmt.Sprintf("intercomtest: conversation custom attributes: %v", err))
	}
	return w.intern(string(b))
}

func (w *Workspace) internRef(ref intercom.ContactRef) uint32 {
	if i, ok := w.refByValue[ref]; ok {
		return i
	}
	i := uint32(len(w.refs))
	w.refs = append(w.refs, ref)
	w.refByValue[ref] = i
	return i
}

// fillConv stores the fields of c in r (all but the id).
func (w *Workspace) fillConv(r *convRec, c *intercom.Conversation) {
	r.createdAt = c.CreatedAt
	r.updatedAt = c.UpdatedAt
	r.state = w.intern(c.State)
	r.admin = w.intern(string(c.AdminAssigneeID))
	r.team = w.intern(string(c.TeamAssigneeID))
	r.attrs = w.encodeAttrs(c.CustomAttributes)
	refs := c.Contacts.Contacts
	if len(refs) > 65535 {
		refs = refs[:65535]
	}
	r.refOff = uint32(len(w.refArena))
	r.refN = uint16(len(refs))
	for _, ref := range refs {
		w.refArena = append(w.refArena, w.internRef(ref))
	}
}

// AddConversation adds a conversation, or replaces the one with its id.
// Its fields are kept as given: admin_assignee_id "0" is served as 0 and ""
// as null; custom attributes absent from the map are absent from the JSON.
func (w *Workspace) AddConversation(c intercom.Conversation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addConversationLocked(&c)
}

func (w *Workspace) addConversationLocked(c *intercom.Conversation) {
	w.changed()
	if i, ok := w.convIndexOf(c.ID); ok {
		w.holdConv(i, true)
		w.convIndex.remove(i, w.convKey(i), w.convKey)
		w.fillConv(&w.convs[i], c)
		w.convIndex.insert(i, w.convKey(i), w.convKey)
		return
	}
	i := int32(len(w.convs))
	r := convRec{num: numericID(c.ID), alive: true}
	if r.num < 0 {
		r.id = c.ID
		w.convByStr[c.ID] = i
	} else {
		w.convByNum[r.num] = i
	}
	w.fillConv(&r, c)
	w.convs = append(w.convs, r)
	w.holdConv(i, false)
	w.liveConvs++
	w.convIndex.add(i, w.convKey(i), w.convKey)
}

// UpdateConversation applies fn to the conversation with this id, as a
// change in Intercom would (reopen it, touch its updated_at, reassign it).
// fn sets updated_at itself if the change should move it. The id cannot be
// changed. It panics if there is no such conversation.
func (w *Workspace) UpdateConversation(id string, fn func(*intercom.Conversation)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.convIndexOf(id)
	if !ok {
		panic(fmt.Sprintf("intercomtest: UpdateConversation: no conversation %q", id))
	}
	c := w.convModel(&w.convs[i])
	fn(&c)
	w.changed()
	w.holdConv(i, true)
	w.convIndex.remove(i, w.convKey(i), w.convKey)
	w.fillConv(&w.convs[i], &c)
	w.convIndex.insert(i, w.convKey(i), w.convKey)
}

// DeleteConversation removes a conversation (no-op for unknown ids).
func (w *Workspace) DeleteConversation(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.convIndexOf(id)
	if !ok {
		return
	}
	w.changed()
	delete(w.convLag, i)
	w.convIndex.remove(i, w.convKey(i), w.convKey)
	if r := &w.convs[i]; r.num >= 0 {
		delete(w.convByNum, r.num)
	} else {
		delete(w.convByStr, r.id)
	}
	w.convs[i] = convRec{}
	w.liveConvs--
}

// convModel materialises a stored conversation; callers hold w.mu.
func (w *Workspace) convModel(r *convRec) intercom.Conversation {
	c := intercom.Conversation{
		ID:              r.idString(),
		CreatedAt:       r.createdAt,
		UpdatedAt:       r.updatedAt,
		State:           w.strs[r.state],
		AdminAssigneeID: intercom.ID(w.strs[r.admin]),
		TeamAssigneeID:  intercom.ID(w.strs[r.team]),
	}
	if raw := w.strs[r.attrs]; raw != "" {
		// Encoded by encodeAttrs from valid JSON: cannot fail.
		_ = json.Unmarshal([]byte(raw), &c.CustomAttributes)
	}
	if r.refN > 0 {
		c.Contacts.Contacts = make([]intercom.ContactRef, r.refN)
		for k, ref := range w.refArena[r.refOff : r.refOff+uint32(r.refN)] {
			c.Contacts.Contacts[k] = w.refs[ref]
		}
	}
	return c
}

// Conversation returns the conversation with this id.
func (w *Workspace) Conversation(id string) (intercom.Conversation, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	i, ok := w.convIndexOf(id)
	if !ok {
		return intercom.Conversation{}, false
	}
	return w.convModel(&w.convs[i]), true
}

// Conversations returns all conversations, in the order they were added.
func (w *Workspace) Conversations() []intercom.Conversation {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]intercom.Conversation, 0, w.liveConvs)
	for i := range w.convs {
		if w.convs[i].alive {
			out = append(out, w.convModel(&w.convs[i]))
		}
	}
	return out
}

// NumConversations is the number of conversations.
func (w *Workspace) NumConversations() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.liveConvs
}

// ---- indexes for the server ----

// rlockContacts read-locks the workspace with the contact index in order.
func (w *Workspace) rlockContacts() {
	for {
		w.mu.RLock()
		if !w.contactIndex.dirty {
			return
		}
		w.mu.RUnlock()
		w.mu.Lock()
		if w.contactIndex.dirty {
			live := make([]int32, 0, w.liveContacts)
			for i := range w.contacts {
				if w.contacts[i].alive {
					live = append(live, int32(i))
				}
			}
			w.contactIndex.rebuild(live, w.contactKey)
		}
		w.mu.Unlock()
	}
}

// rlockConversations read-locks the workspace with the conversation index
// in order.
func (w *Workspace) rlockConversations() {
	for {
		w.mu.RLock()
		if !w.convIndex.dirty {
			return
		}
		w.mu.RUnlock()
		w.mu.Lock()
		if w.convIndex.dirty {
			live := make([]int32, 0, w.liveConvs)
			for i := range w.convs {
				if w.convs[i].alive {
					live = append(live, int32(i))
				}
			}
			w.convIndex.rebuild(live, w.convKey)
		}
		w.mu.Unlock()
	}
}

// cachedCount returns the total for a search, computing it once per query
// and workspace version; callers hold w.mu for reading.
func (w *Workspace) cachedCount(key string, count func() int) int {
	w.countMu.Lock()
	if w.countVer != w.version || w.countCache == nil {
		w.countCache = map[string]int{}
		w.countVer = w.version
	}
	n, ok := w.countCache[key]
	w.countMu.Unlock()
	if ok {
		return n
	}
	n = count()
	w.countMu.Lock()
	if w.countVer == w.version {
		w.countCache[key] = n
	}
	w.countMu.Unlock()
	return n
}
