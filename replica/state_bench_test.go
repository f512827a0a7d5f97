package replica

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/state"
)

// scaleStore is a store the size of the scale scenario (docs/performance.md): contacts
// contacts (60% enrolled, 45% with a stored call), sessions sessions (one
// in twenty shared by two contacts) and others closed non-sessions, over a
// year.
func scaleStore(contacts, sessions, others int, now time.Time) *store {
	r := rand.New(rand.NewPCG(1, 2))
	s := newStore()
	s.now, s.readAt, s.fullAt, s.refreshEnd = now, now, now, now
	s.workspaceID, s.workspaceTZ, s.wsLoc = "abc123", "UTC", time.UTC
	s.attrTypes, s.attrTypesKnown, s.adminsKnown = map[string]string{"Registration Date": "date"}, true, true
	for i := range 40 {
		s.admins = append(s.admins, engagement.Admin{ID: strconv.Itoa(4100001 + i*13), Name: fmt.Sprintf("Coach %d", i)})
	}
	employers := make([]string, 300)
	for i := range employers {
		employers[i] = fmt.Sprintf("Employer %d Holdings", i)
	}
	s.contacts = make([]engagement.Contact, contacts)
	s.cmeta = make([]state.ContactMeta, contacts)
	for i := range s.contacts {
		c := engagement.Contact{
			ID: fmt.Sprintf("6%07x%016x", 0x5eed, i+1), ExternalID: fmt.Sprintf("P%06d", i+1),
			Name: fmt.Sprintf("First%d Last%d", i%97, i%89), Email: fmt.Sprintf("first.last%d@example.com", i+1),
			Employer: employers[r.IntN(len(employers))], UpdatedAt: now.Unix() - r.Int64N(60*86400),
		}
		if r.IntN(3) == 0 {
			c.OwnerID = s.admins[r.IntN(len(s.admins))].ID
		}
		if r.IntN(10) < 6 {
			u := now.Unix() - r.Int64N(500*86400)
			c.Registration = &engagement.Stamp{Unix: u, Day: engagement.DayOfUnix(u, time.UTC)}
			s.cmeta[i].Attr = true
		}
		if r.IntN(20) < 9 {
			u := now.Unix() - r.Int64N(200*86400)
			c.StoredLastCall = &engagement.Stamp{Unix: u, Day: engagement.DayOfUnix(u, time.UTC)}
			c.StoredStatus = engagement.StatusEngaged
			s.cmeta[i].Attr = true
		}
		s.contacts[i] = c
		s.contactAt[c.ID] = int32(i)
	}
	channels := []string{"Phone", "Video Conference", "Email", "Chat"}
	s.sessions = make([]engagement.Conversation, sessions)
	s.sessUpdated = make([]int64, sessions)
	for i := range s.sessions {
		created := now.Unix() - r.Int64N(365*86400)
		idx := []int32{int32(r.IntN(contacts))}
		if i%20 == 0 {
			idx = append(idx, int32(r.IntN(contacts)))
		}
		c := engagement.Conversation{ID: strconv.Itoa(100_000_000 + i), CreatedAt: created, State: "closed",
			Channel: channels[r.IntN(4)], AdminID: s.admins[r.IntN(len(s.admins))].ID, ContactIdx: idx}
		s.sessions[i], s.sessUpdated[i] = c, created+r.Int64N(3*86400)
		s.sessionAt[c.ID] = int32(i)
	}
	for i := range others {
		s.others[strconv.Itoa(200_000_000+i)] = now.Unix() - r.Int64N(365*86400)
	}
	return s
}

// BenchmarkStateAtScale measures, for 200,000 contacts, 1,000,000 sessions
// and 200,000 other closed conversations: encoding the store, writing the
// file (fsync and rename included), reading and decoding it, rebuilding
// the store and the model (what a restart does before it is ready).
//
//	go test -run '^$' -bench StateAtScale -benchtime 3x ./replica/
func BenchmarkStateAtScale(b *testing.B) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	st := scaleStore(200_000, 1_000_000, 200_000, now)
	dir := b.TempDir()
	ecfg := engagement.DefaultConfig()
	var bytes int
	var enc, save, load, decode, rebuild, build time.Duration
	for b.Loop() {
		t0 := time.Now()
		blob := state.EncodeSnapshot(st.saved("settings"))
		t1 := time.Now()
		if err := state.Save(dir, &state.File{Identity: "x", Data: blob}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		f, err := state.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		snap, err := state.DecodeSnapshot(f.Data)
		if err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		restored, err := storeFrom(snap)
		if err != nil {
			b.Fatal(err)
		}
		t5 := time.Now()
		m := engagement.Build(restored.data(), ecfg, restored.now)
		m.Reports()
		t6 := time.Now()
		if len(m.Sessions) != len(st.sessions) {
			b.Fatalf("%d sessions restored, want %d", len(m.Sessions), len(st.sessions))
		}
		enc += t1.Sub(t0)
		save += t2.Sub(t1)
		load += t3.Sub(t2)
		decode += t4.Sub(t3)
		rebuild += t5.Sub(t4)
		build += t6.Sub(t5)
		if fi, err := os.Stat(state.Path(dir)); err == nil {
			bytes = int(fi.Size())
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(bytes)/(1<<20), "file-MiB")
	b.ReportMetric(enc.Seconds()/n, "encode-s")
	b.ReportMetric(save.Seconds()/n, "write-s")
	b.ReportMetric(load.Seconds()/n, "read-s")
	b.ReportMetric(decode.Seconds()/n, "decode-s")
	b.ReportMetric(rebuild.Seconds()/n, "index-s")
	b.ReportMetric(build.Seconds()/n, "build+reports-s")
	b.ReportMetric((load+decode+rebuild+build).Seconds()/n, "restart-ready-s")
}
