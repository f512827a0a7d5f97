package engagement

import "sort"

// Written is what a sync run wrote to a contact, with the updated_at that
// Intercom answered. It stands for the contact's stored values until a read
// of the contact with a newer updated_at replaces it (docs/sync.md).
type Written struct {
	LastCall  int64
	Status    string
	UpdatedAt int64
}

// Change is one contact whose stored values differ from the desired ones.
type Change struct {
	ContactID string `json:"contact_id"`
	// Stored values as last known; StoredLastCall is nil when missing or
	// unreadable.
	StoredLastCall *int64 `json:"stored_last_call"`
	StoredStatus   string `json:"stored_status"`
	// Desired values, written together in one request.
	LastCall int64  `json:"last_call"`
	Status   string `json:"status"`
}

// Writable reports whether a status is ever written to Intercom ("No Call"
// is metric-only).
func Writable(status string) bool {
	return status == StatusEngaged || status == StatusAtRisk || status == StatusUnengaged
}

// Plan lists, in contact id order, every contact with a written status
// whose stored Last Coaching Call or Engagement Status differs from the
// desired values, and counts those that already match. written overlays
// what earlier runs wrote (see Written); it may be nil.
//
// Last Coaching Call never moves backwards from a valid stored value: when
// the stored value is later than the last call (a stored call more than a
// day ahead, which the status ignores), it is kept.
func (m *Model) Plan(written map[string]Written) (changes []Change, unchanged int) {
	for i := range m.Members {
		mem := &m.Members[i]
		if !mem.HasLastCall || !Writable(mem.Status) {
			continue
		}
		// A contact that was not read has unknown stored values: writing it
		// could move a valid stored Last Coaching Call backwards (docs/sync.md).
		if mem.Unread {
			continue
		}
		c := mem.Contact
		var stored *int64
		if c.StoredLastCall != nil {
			v := c.StoredLastCall.Unix
			stored = &v
		}
		storedStatus := c.StoredStatus
		if w, ok := written[c.ID]; ok && w.UpdatedAt >= c.UpdatedAt {
			v := w.LastCall
			stored, storedStatus = &v, w.Status
		}
		want := mem.LastCall.Unix
		if stored != nil && *stored > want {
			want = *stored
		}
		if stored != nil && *stored == want && storedStatus == mem.Status {
			unchanged++
			continue
		}
		changes = append(changes, Change{
			ContactID: c.ID, StoredLastCall: stored, StoredStatus: storedStatus,
			LastCall: want, Status: mem.Status,
		})
	}
	sort.Slice(changes, func(i, j int) bool { return CompareIDs(changes[i].ContactID, changes[j].ContactID) < 0 })
	return changes, unchanged
}
