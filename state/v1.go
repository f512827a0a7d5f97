package state

import (
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// Version 1 was written field by field by a hand-written encoder. It is
// read, never written: a version-1 file is migrated on load (its frozen
// billing months, the sync's overlay and its report data carried over as
// they are) and the next save writes the current version.
//
// Its payload: saved-at time, identity, the encoded Snapshot (whose
// encoding is unchanged), the overlay (count, then id, last call, status,
// updated-at for each contact, in id order) and the frozen months (count,
// then year, month, frozen-at and the records field by field, with
// has-last-call, new and engaged as bits of one byte).
const version1 = 1

// decodeV1 decodes a version-1 payload (checksum already checked).
func decodeV1(b []byte) (*File, error) {
	r := reader{buf: b}
	f := &File{SavedAt: r.time(), Identity: r.str()}
	if data := r.bytes(); len(data) > 0 {
		f.Data = data
	}
	n := r.count(4)
	f.Written = make(map[string]engagement.Written, n)
	for range n {
		id := r.str()
		f.Written[id] = engagement.Written{LastCall: r.varint(), Status: r.str(), UpdatedAt: r.varint()}
	}
	n = r.count(16)
	for range n {
		fr := Frozen{Month: engagement.Month{Year: int(r.varint()), Month: time.Month(r.uvarint())}, FrozenAt: r.time()}
		k := r.count(8)
		fr.Records = make([]engagement.BillingRecord, k)
		for i := range fr.Records {
			rec := &fr.Records[i]
			rec.ContactID, rec.Name, rec.Email, rec.Employer, rec.ExternalID = r.str(), r.str(), r.str(), r.str(), r.str()
			rec.Registration, rec.LastCall = engagement.Day(r.varint()), engagement.Day(r.varint())
			fl := r.byte()
			rec.HasLastCall, rec.New, rec.Engaged = fl&1 != 0, fl&2 != 0, fl&4 != 0
			rec.Qualifying = r.str()
		}
		f.Frozen = append(f.Frozen, fr)
	}
	if r.err == nil && len(r.buf) != r.off {
		r.fail("%d bytes left over", len(r.buf)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}
