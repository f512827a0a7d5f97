package collector

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/coaching/intercom_exporter/engagement"
)

// scaleModel is a model the size of the scale scenario: 200,000 contacts
// (60% enrolled, 45% with a stored call) of 400 employers, 1,000,000
// sessions over a year by 80 coaches on 4 channels (one in twenty shared
// by two contacts).
func scaleModel(b *testing.B, now time.Time) *engagement.Model {
	const contacts, sessions, coaches, employers = 200_000, 1_000_000, 80, 400
	r := rand.New(rand.NewPCG(1, 2))
	d := engagement.Data{AdminsKnown: true}
	for i := range coaches {
		d.Admins = append(d.Admins, engagement.Admin{ID: strconv.Itoa(4100001 + i*13), Name: "Coach " + strconv.Itoa(i)})
	}
	d.Contacts = make([]engagement.Contact, contacts)
	for i := range d.Contacts {
		c := engagement.Contact{ID: strconv.Itoa(6_000_000 + i), Employer: "Employer " + strconv.Itoa(r.IntN(employers)) + " Holdings",
			UpdatedAt: now.Unix()}
		if r.IntN(3) == 0 {
			c.OwnerID = d.Admins[r.IntN(coaches)].ID
		}
		if r.IntN(10) < 6 {
			u := now.Unix() - r.Int64N(500*86400)
			c.Registration = &engagement.Stamp{Unix: u, Day: engagement.DayOfUnix(u, time.UTC)}
		}
		if r.IntN(20) < 9 {
			u := now.Unix() - r.Int64N(200*86400)
			c.StoredLastCall = &engagement.Stamp{Unix: u, Day: engagement.DayOfUnix(u, time.UTC)}
			c.StoredStatus = engagement.StatusEngaged
		}
		d.Contacts[i] = c
	}
	channels := []string{"Phone", "Video Conference", "Email", "Chat"}
	d.Conversations = make([]engagement.Conversation, sessions)
	for i := range d.Conversations {
		idx := []int32{int32(r.IntN(contacts))}
		if i%20 == 0 {
			if j := int32(r.IntN(contacts)); j != idx[0] {
				idx = append(idx, j)
			}
		}
		d.Conversations[i] = engagement.Conversation{ID: strconv.Itoa(100_000_000 + i), CreatedAt: now.Unix() - r.Int64N(365*86400),
			State: "closed", Channel: channels[r.IntN(4)], AdminID: d.Admins[r.IntN(coaches)].ID, ContactIdx: idx}
	}
	m := engagement.Build(d, engagement.DefaultConfig(), now)
	if len(m.Sessions) != sessions {
		b.Fatalf("%d sessions, want %d", len(m.Sessions), sessions)
	}
	return m
}

// BenchmarkPublishAtScale measures what a refresh adds to the rules at the
// scale scenario: Publish (every series of the reports, within the series
// budget of 10,000 a family) and, separately, the first scrape's encoding
// of the published series (text format, plain and gzip).
//
//	go test -run '^$' -bench PublishAtScale -benchtime 5x ./collector/
func BenchmarkPublishAtScale(b *testing.B) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	m := scaleModel(b, now)
	rep := m.Reports()
	c := New(Settings{RefreshInterval: 15 * time.Minute, MaxSeriesPerFamily: 10_000,
		TimeAttributes: []string{"Registration Date", "Last Coaching Call"}, SyncMode: engagement.ModeDryRun},
		slog.New(slog.DiscardHandler))
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var publish, encode time.Duration
	var size int
	for b.Loop() {
		t0 := time.Now()
		c.Publish(m, rep, map[string]int{"Registration Date": 3, "Last Coaching Call": 1})
		t1 := time.Now()
		x := c.encodedReports(c.pub.Load(), format)
		if x.err != nil {
			b.Fatal(x.err)
		}
		t2 := time.Now()
		publish += t1.Sub(t0)
		encode += t2.Sub(t1)
		size = len(x.plain)
	}
	if !bytes.Contains(c.encodedReports(c.pub.Load(), format).plain, []byte("intercom_sessions{")) {
		b.Fatal("no session series encoded")
	}
	n := float64(b.N)
	b.ReportMetric(publish.Seconds()/n, "publish-s")
	b.ReportMetric(encode.Seconds()/n, "first-encode-s")
	b.ReportMetric(float64(size)/(1<<20), "text-MiB")
}
