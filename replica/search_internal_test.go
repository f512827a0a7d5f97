package replica

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
)

// fakeSearch pages through records sorted by (updated_at, id) with the
// API's documented bounds ("updated_at > v" includes v, "< v" too), 150 a
// page, after an opaque cursor; it counts requests and the most in flight.
type fakeSearch struct {
	recs              []intercom.Conversation // sorted
	requests          atomic.Int64
	inFlight, maxSeen atomic.Int64
}

func (f *fakeSearch) page(_ context.Context, q intercom.Query, n int, cursor string) (intercom.SearchPage[intercom.Conversation], error) {
	f.requests.Add(1)
	if c := f.inFlight.Add(1); c > f.maxSeen.Load() {
		f.maxSeen.Store(c)
	}
	defer f.inFlight.Add(-1)
	time.Sleep(200 * time.Microsecond)
	lo, hi := int64(-1<<62), int64(1<<62)
	filters := []intercom.Query{q}
	if qs, ok := q.Value.([]intercom.Query); ok {
		filters = qs
	}
	for _, fq := range filters {
		v := fq.Value.(int64)
		if fq.Operator == ">" {
			lo = max(lo, v)
		} else {
			hi = min(hi, v)
		}
	}
	start := 0
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
	}
	var out intercom.SearchPage[intercom.Conversation]
	total := 0
	for i, c := range f.recs {
		if c.UpdatedAt < lo || c.UpdatedAt > hi {
			continue
		}
		total++
		if i >= start && len(out.Items) < n {
			out.Items = append(out.Items, c)
			out.Next = strconv.Itoa(i + 1)
		}
	}
	out.Total = total
	if len(out.Items) < n || out.Next == strconv.Itoa(len(f.recs)) {
		out.Next = ""
	}
	// A last full page: is there any match after it?
	if out.Next != "" {
		more := false
		next, _ := strconv.Atoi(out.Next)
		for _, c := range f.recs[next:] {
			if c.UpdatedAt >= lo && c.UpdatedAt <= hi {
				more = true
				break
			}
		}
		if !more {
			out.Next = ""
		}
	}
	return out, nil
}

func TestRunRanged_ReadsEveryRecordOnceAndSplitsWhereTheRecordsAre(t *testing.T) {
	for _, bounds := range []int32{boundsUnknown, boundsInclusive} {
		t.Run(map[int32]string{boundsUnknown: "bounds unknown", boundsInclusive: "bounds inclusive"}[bounds], func(t *testing.T) {
			runRangedCase(t, bounds)
		})
	}
}

func runRangedCase(t *testing.T, bounds int32) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 60_000
	now := int64(1_780_000_000)
	var recs []intercom.Conversation
	for i := range n {
		// Most records in the last tenth of the range: equal cuts put them
		// in a few ranges, which must be split again; some thousands in a
		// few seconds (a bulk change).
		at := now - r.Int64N(365*86400)
		switch {
		case i%10 == 1:
			at = now - 3600 - r.Int64N(4)
		case i%4 != 0:
			at = now - r.Int64N(36*86400)
		}
		recs = append(recs, intercom.Conversation{ID: strconv.Itoa(i), UpdatedAt: at})
	}
	slices.SortFunc(recs, func(a, b intercom.Conversation) int {
		if a.UpdatedAt != b.UpdatedAt {
			return int(a.UpdatedAt - b.UpdatedAt)
		}
		x, _ := strconv.Atoi(a.ID)
		y, _ := strconv.Atoi(b.ID)
		return x - y
	})
	f := &fakeSearch{recs: recs}
	var known atomic.Int32
	known.Store(bounds)
	s := newSearcher(nil, 8, &known)
	var mu sync.Mutex
	seen := map[string]int{}
	emitted := 0
	lo := now - 366*86400
	err := runRanged(context.Background(), s, ranged[intercom.Conversation]{
		what:  "test",
		query: func(sp span) intercom.Query { return and(s.convRange(sp)...) },
		page:  f.page,
		cuts: func(sp span, parts int, _ []intercom.Conversation) []int64 {
			return evenCuts(sp, parts, lo, now, nil)
		},
		emit: func(page []intercom.Conversation) {
			mu.Lock()
			for _, c := range page {
				seen[c.ID]++
			}
			emitted += len(page)
			mu.Unlock()
		},
	}, span{lo, openHi})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d records read, want %d", len(seen), n)
	}
	if bounds == boundsInclusive && emitted != n {
		t.Errorf("%d records emitted for %d: exact ranges read none twice", emitted, n)
	}
	pages := (n + perPage - 1) / perPage
	got := int(f.requests.Load())
	if got > pages*11/10+2*s.concurrency {
		t.Errorf("%d requests for %d pages: more than a tenth over (plus a probe per part)", got, pages)
	}
	if m := f.maxSeen.Load(); m < 4 || m > int64(s.concurrency) {
		t.Errorf("at most %d requests in flight, want 4..%d", m, s.concurrency)
	}
	t.Logf("%d requests for %d pages, %d records emitted for %d, at most %d in flight", got, pages, emitted, n, f.maxSeen.Load())
}

func TestSplitParts(t *testing.T) {
	for _, tc := range []struct{ total, depth, expect, conc, want int }{
		{150 * 19, 0, 0, 16, 0},     // under 20 pages: read page after page
		{150 * 20, 0, 0, 16, 2},     // 20 pages: two ranges of 10
		{150 * 1000, 0, 0, 16, 100}, // ranges of ten pages
		{150 * 5000, 0, 0, 16, 128}, // at most eight times the concurrency
		{150 * 1000, 0, 0, 1, 0},    // one request at a time: splitting gains nothing
		{150 * 25, 1, 12, 16, 2},    // a little over twice the expected size
		{150 * 24, 1, 12, 16, 0},    // as large as its siblings roughly: no split
		{150 * 400, 1, 10, 16, 16},  // far larger: up to the concurrency
		{150 * 400, maxSplitDepth, 10, 16, 0},
		{-1, 0, 0, 16, 0}, // total unknown
	} {
		if got := splitParts(tc.total, tc.depth, tc.expect, tc.conc); got != tc.want {
			t.Errorf("splitParts(%d pages, depth %d, expect %d, concurrency %d) = %d, want %d",
				pagesOf(tc.total), tc.depth, tc.expect, tc.conc, got, tc.want)
		}
	}
}
