package state

import (
	"strconv"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// Snapshot is the data the reports are built from, as the collector keeps
// it between refreshes: only what the reports need (no custom attribute
// blobs, no conversation parts).
type Snapshot struct {
	// Settings fingerprints the configuration the data was read and mapped
	// with; data read with other settings is not used.
	Settings string
	// Now is the "now" the last published reports were computed for,
	// ReadAt when the last successful read started (the incremental
	// watermark), FullAt when the last full read started and RefreshEnd
	// when the last successful refresh ended.
	Now, ReadAt, FullAt, RefreshEnd time.Time
	// WorkspaceID and WorkspaceTimezone are what GET /me said.
	WorkspaceID, WorkspaceTimezone string
	// AttrTypes are the contact data attributes' types the searches were
	// built with (name, data type); AttrTypesKnown is false when they could
	// not be read.
	AttrTypesKnown bool
	AttrTypes      [][2]string
	AdminsKnown    bool
	Admins         []engagement.Admin
	// Contacts and ContactMeta are parallel.
	Contacts    []engagement.Contact
	ContactMeta []ContactMeta
	// Sessions are the coaching sessions (closed, on a session channel),
	// listing their contacts by index into Contacts; SessionUpdated is
	// their updated_at, parallel.
	Sessions       []engagement.Conversation
	SessionUpdated []int64
	// Others are the closed conversations in the data window that are not
	// sessions: only what is needed to notice that one was deleted.
	Others []Other
}

// ContactMeta is what the collector knows about a contact besides the
// rules' input.
type ContactMeta struct {
	// Attr is true when the contact carries a value of a registration or
	// the last call attribute (it is read for that, not only for being on
	// a session).
	Attr bool
	// Invalid has bit i set when the i-th time attribute is present but
	// unreadable.
	Invalid uint32
}

// Other is a closed conversation that is not a session.
type Other struct {
	ID        string
	UpdatedAt int64
	CreatedAt int64
}

// snapshotVersion is the Snapshot encoding's own version, inside the file
// format's (Version).
const snapshotVersion = 2

// EncodeSnapshot encodes s compactly: strings that repeat (admins,
// employers, owners, channels, statuses) once, numbers as varints, numeric
// conversation ids as numbers.
func EncodeSnapshot(s *Snapshot) []byte {
	w := writer{buf: make([]byte, 0, 64+len(s.Contacts)*96+len(s.Sessions)*20+len(s.Others)*12)}
	in := interned{idx: map[string]uint64{}}
	w.uvarint(snapshotVersion)
	w.str(s.Settings)
	for _, t := range []time.Time{s.Now, s.ReadAt, s.FullAt, s.RefreshEnd} {
		w.time(t)
	}
	w.str(s.WorkspaceID)
	w.str(s.WorkspaceTimezone)
	w.flags(s.AttrTypesKnown, s.AdminsKnown)
	w.uvarint(uint64(len(s.AttrTypes)))
	for _, a := range s.AttrTypes {
		w.str(a[0])
		w.str(a[1])
	}
	w.uvarint(uint64(len(s.Admins)))
	for _, a := range s.Admins {
		w.str(a.ID)
		w.str(a.Name)
	}

	w.uvarint(uint64(len(s.Contacts)))
	for i := range s.Contacts {
		c := &s.Contacts[i]
		var meta ContactMeta
		if i < len(s.ContactMeta) {
			meta = s.ContactMeta[i]
		}
		w.str(c.ID)
		w.str(c.ExternalID)
		w.str(c.Name)
		w.str(c.Email)
		in.put(&w, c.OwnerID)
		in.put(&w, c.Employer)
		in.put(&w, c.StoredStatus)
		w.varint(c.UpdatedAt)
		w.flags(c.Registration != nil, c.StoredLastCall != nil, c.Unread, meta.Attr)
		for _, st := range []*engagement.Stamp{c.Registration, c.StoredLastCall} {
			if st != nil {
				w.varint(st.Unix)
				w.varint(int64(st.Day))
			}
		}
		w.uvarint(uint64(meta.Invalid))
		w.str(c.RegistrationRaw)
	}

	w.uvarint(uint64(len(s.Sessions)))
	for i := range s.Sessions {
		c := &s.Sessions[i]
		putConvID(&w, c.ID)
		w.varint(c.CreatedAt)
		var upd int64
		if i < len(s.SessionUpdated) {
			upd = s.SessionUpdated[i]
		}
		w.varint(upd - c.CreatedAt)
		in.put(&w, c.State)
		in.put(&w, c.Channel)
		in.put(&w, c.AdminID)
		w.uvarint(uint64(len(c.ContactIdx)))
		for _, k := range c.ContactIdx {
			w.uvarint(uint64(k))
		}
	}
	w.uvarint(uint64(len(s.Others)))
	for _, o := range s.Others {
		putConvID(&w, o.ID)
		w.varint(o.UpdatedAt)
		w.varint(o.UpdatedAt - o.CreatedAt)
	}
	return w.buf
}

// DecodeSnapshot decodes what EncodeSnapshot wrote; a damaged encoding is
// an error wrapping ErrCorrupt.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	r := reader{buf: b}
	var in internedReader
	// Version 1 lacks the registration values as Intercom holds them and
	// the created_at of the conversations that are not sessions.
	v := r.uvarint()
	if r.err == nil && v != 1 && v != snapshotVersion {
		r.fail("snapshot encoding version %d, want 1 or %d", v, snapshotVersion)
	}
	s := &Snapshot{Settings: r.str()}
	for _, t := range []*time.Time{&s.Now, &s.ReadAt, &s.FullAt, &s.RefreshEnd} {
		*t = r.time()
	}
	s.WorkspaceID, s.WorkspaceTimezone = r.str(), r.str()
	fl := r.byte()
	s.AttrTypesKnown, s.AdminsKnown = fl&1 != 0, fl&2 != 0
	n := r.count(2)
	for range n {
		s.AttrTypes = append(s.AttrTypes, [2]string{r.str(), r.str()})
	}
	n = r.count(2)
	for range n {
		s.Admins = append(s.Admins, engagement.Admin{ID: r.str(), Name: r.str()})
	}

	n = r.count(12)
	s.Contacts = make([]engagement.Contact, n)
	s.ContactMeta = make([]ContactMeta, n)
	stamps := make([]engagement.Stamp, 0, n+n/2)
	for i := range s.Contacts {
		c := &s.Contacts[i]
		c.ID, c.ExternalID, c.Name, c.Email = r.str(), r.str(), r.str(), r.str()
		c.OwnerID, c.Employer, c.StoredStatus = in.get(&r), in.get(&r), in.get(&r)
		c.UpdatedAt = r.varint()
		fl := r.byte()
		c.Unread = fl&4 != 0
		s.ContactMeta[i].Attr = fl&8 != 0
		for k, dst := range []**engagement.Stamp{&c.Registration, &c.StoredLastCall} {
			if fl&(1<<k) != 0 {
				// Stamps share backing arrays; when append moves on to a
				// new one, the pointers into the old one stay valid.
				stamps = append(stamps, engagement.Stamp{Unix: r.varint(), Day: engagement.Day(r.varint())})
				*dst = &stamps[len(stamps)-1]
			}
		}
		s.ContactMeta[i].Invalid = uint32(r.uvarint())
		if v > 1 {
			c.RegistrationRaw = r.str()
		}
	}

	n = r.count(5)
	s.Sessions = make([]engagement.Conversation, n)
	s.SessionUpdated = make([]int64, n)
	ids := newIDArena(n)
	var idxBuf []int32
	for i := range s.Sessions {
		c := &s.Sessions[i]
		ids.read(&r, i)
		c.CreatedAt = r.varint()
		s.SessionUpdated[i] = c.CreatedAt + r.varint()
		c.State, c.Channel, c.AdminID = in.get(&r), in.get(&r), in.get(&r)
		k := r.count(1)
		if k > 0 {
			if len(idxBuf) < k {
				idxBuf = make([]int32, max(k, 64<<10))
			}
			c.ContactIdx, idxBuf = idxBuf[:k:k], idxBuf[k:]
			for j := range c.ContactIdx {
				v := r.uvarint()
				if v >= uint64(len(s.Contacts)) {
					r.fail("session lists contact %d of %d", v, len(s.Contacts))
				}
				c.ContactIdx[j] = int32(v)
			}
		}
	}
	ids.finish(func(i int, id string) { s.Sessions[i].ID = id })

	n = r.count(2)
	s.Others = make([]Other, n)
	oids := newIDArena(n)
	for i := range s.Others {
		oids.read(&r, i)
		s.Others[i].UpdatedAt = r.varint()
		if v > 1 {
			s.Others[i].CreatedAt = s.Others[i].UpdatedAt - r.varint()
		}
	}
	oids.finish(func(i int, id string) { s.Others[i].ID = id })

	if r.err == nil && r.off != len(r.buf) {
		r.fail("%d bytes left over", len(r.buf)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// interned writes a string once and then by number: 0 followed by the
// string the first time, its number+1 afterwards.
type interned struct{ idx map[string]uint64 }

func (t *interned) put(w *writer, s string) {
	if i, ok := t.idx[s]; ok {
		w.uvarint(i + 1)
		return
	}
	t.idx[s] = uint64(len(t.idx))
	w.uvarint(0)
	w.str(s)
}

type internedReader struct{ strs []string }

func (t *internedReader) get(r *reader) string {
	i := r.uvarint()
	if i == 0 {
		s := r.str()
		t.strs = append(t.strs, s)
		return s
	}
	if i > uint64(len(t.strs)) {
		r.fail("string %d of %d", i, len(t.strs))
		return ""
	}
	return t.strs[i-1]
}

// putConvID writes a conversation id: a canonical decimal number (the
// usual case) as a number, anything else as text.
func putConvID(w *writer, id string) {
	if n, ok := canonicalNumber(id); ok {
		w.uvarint(n << 1)
		return
	}
	w.uvarint(uint64(len(id))<<1 | 1)
	w.buf = append(w.buf, id...)
}

func canonicalNumber(s string) (uint64, bool) {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}

// idArena decodes conversation ids into one string (one allocation for a
// million ids instead of a million).
type idArena struct {
	buf  []byte
	ends []int32
}

func newIDArena(n int) *idArena {
	return &idArena{buf: make([]byte, 0, n*10), ends: make([]int32, n)}
}

func (a *idArena) read(r *reader, i int) {
	v := r.uvarint()
	if v&1 == 0 {
		a.buf = strconv.AppendUint(a.buf, v>>1, 10)
	} else {
		n := v >> 1
		if r.err != nil || n > uint64(len(r.buf)-r.off) {
			r.fail("cut short")
		} else {
			a.buf = append(a.buf, r.buf[r.off:r.off+int(n)]...)
			r.off += int(n)
		}
	}
	a.ends[i] = int32(len(a.buf))
}

func (a *idArena) finish(set func(i int, id string)) {
	all := string(a.buf)
	start := int32(0)
	for i, end := range a.ends {
		set(i, all[start:end])
		start = end
	}
}
