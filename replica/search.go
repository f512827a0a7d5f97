package replica

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// perPage is a full search page, the most the API gives.
const perPage = 150

// Splitting a search into ranges costs one request per range beyond the
// pages themselves (each range ends with a part page), plus the first page
// of the range that was split. A search is split only when each part still
// has about minPagesPerPart pages, so that the overhead stays near a tenth.
const (
	minPagesPerPart = 10
	maxSplitDepth   = 4
)

// searcher runs the searches of one refresh: at most REFRESH_CONCURRENCY
// requests in flight across all of them, every one paced by the client's
// one rate limiter (which is what bounds the rate).
type searcher struct {
	c           *intercom.Client
	sem         chan struct{}
	concurrency int
	requests    atomic.Int64
	// bounds is what is known of the conversation search's bounds (see
	// convRange); it outlives the refresh (the Replica's).
	bounds *atomic.Int32
}

func newSearcher(c *intercom.Client, concurrency int, bounds *atomic.Int32) *searcher {
	concurrency = max(1, concurrency)
	if bounds == nil {
		bounds = new(atomic.Int32)
	}
	return &searcher{c: c, sem: make(chan struct{}, concurrency), concurrency: concurrency, bounds: bounds}
}

// do runs one request within the in-flight budget.
func (s *searcher) do(ctx context.Context, fn func() error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-s.sem }()
	s.requests.Add(1)
	return fn()
}

// span is an inclusive range of a search field's values; math.MinInt64 and
// math.MaxInt64 leave it open.
type span struct{ lo, hi int64 }

const (
	openLo = math.MinInt64
	openHi = math.MaxInt64
)

// ranged is a search that can be split into ranges of one field.
type ranged[T any] struct {
	what  string // for errors, e.g. "searching conversations"
	query func(sp span) intercom.Query
	page  func(ctx context.Context, q intercom.Query, perPage int, cursor string) (intercom.SearchPage[T], error)
	// cuts returns up to parts-1 increasing cut points strictly inside sp
	// (a cut c splits [lo, hi] into [lo, c-1] and [c, hi]), given the
	// values of the first page; none when sp cannot be split.
	cuts func(sp span, parts int, first []T) []int64
	emit func(items []T)
}

// run reads every page of the search over root. When the first page of a
// range says it is large, the rest of the range is read as several smaller
// ranges at once instead of page after page: the pages of one range come
// one at a time (each names the next), so one range never uses more than
// one request's worth of the rate limit.
func runRanged[T any](ctx context.Context, s *searcher, r ranged[T], root span) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() {
			first = err
			cancel(err)
		})
	}
	var read func(sp span, depth, expect int)
	read = func(sp span, depth, expect int) {
		defer wg.Done()
		q := r.query(sp)
		cursor := ""
		for page := 1; ; page++ {
			var p intercom.SearchPage[T]
			err := s.do(ctx, func() error {
				var err error
				p, err = r.page(ctx, q, perPage, cursor)
				return err
			})
			if err != nil {
				fail(fmt.Errorf("%s: %w", r.what, err))
				return
			}
			if page == 1 && p.Next != "" {
				if parts := splitParts(p.Total, depth, expect, s.concurrency); parts >= 2 && r.cuts != nil {
					if cuts := r.cuts(sp, parts, p.Items); len(cuts) > 0 {
						// The parts read this page's records again.
						subs := splitSpan(sp, cuts)
						each := pagesOf(p.Total) / len(subs)
						wg.Add(len(subs))
						for _, sub := range subs {
							go read(sub, depth+1, each)
						}
						return
					}
				}
			}
			r.emit(p.Items)
			if p.Next == "" {
				return
			}
			cursor = p.Next
		}
	}
	wg.Add(1)
	go read(root, 0, 0)
	wg.Wait()
	return first
}

// splitParts says into how many ranges to split a range whose search
// matches total records (-1: unknown), at a split depth, when it was
// expected to have about expect pages (its share of the range it was cut
// from): at first into up to eight times the concurrency (a range is read
// page after page, 150 ms or so each, so small ranges keep the end of a
// large read from running on a few of them), each of at least ten pages
// (each range ends with a part page: the cost stays a few percent); deeper
// down only a range more than twice as large as expected, back to the
// expected size. Cuts by time or day cannot know where the records are;
// the ranges that come out much larger than their siblings are the ones
// that would be read alone at the end.
func splitParts(total, depth, expect, concurrency int) int {
	if total <= 0 || concurrency < 2 || depth >= maxSplitDepth {
		return 0
	}
	pages := pagesOf(total)
	parts := 0
	switch {
	case depth == 0:
		parts = min(pages/minPagesPerPart, 8*concurrency)
	case pages > 2*max(expect, minPagesPerPart):
		parts = min(pages/max(expect, minPagesPerPart), concurrency)
	}
	if parts < 2 {
		return 0
	}
	return parts
}

func pagesOf(records int) int { return (records + perPage - 1) / perPage }

func splitSpan(sp span, cuts []int64) []span {
	out := make([]span, 0, len(cuts)+1)
	lo := sp.lo
	for _, c := range cuts {
		out = append(out, span{lo, c - 1})
		lo = c
	}
	return append(out, span{lo, sp.hi})
}

// evenCuts cuts [lo, hi] into parts of equal width from effLo (where the
// records start, when known; an open start is replaced by it) to hi (an
// open end replaced by effHi), or at the quantiles of sample (sorted) when
// it has enough values inside the range.
func evenCuts(sp span, parts int, effLo, effHi int64, sample []int64) []int64 {
	lo, hi := sp.lo, sp.hi
	if hi != openHi && effLo >= hi {
		return nil // the records are all at the end: nowhere to cut
	}
	if lo == openLo || effLo > lo {
		lo = effLo // the records start there: the first part takes any before
	}
	if hi == openHi {
		hi = effHi
	}
	var cuts []int64
	add := func(c int64) {
		if c > sp.lo && c <= sp.hi && c > lo && c <= hi && (len(cuts) == 0 || c > cuts[len(cuts)-1]) {
			cuts = append(cuts, c)
		}
	}
	if sample != nil {
		a, _ := slices.BinarySearch(sample, lo)
		b, _ := slices.BinarySearch(sample, hi+1)
		if in := sample[a:b]; len(in) >= 4*parts {
			for k := 1; k < parts; k++ {
				add(in[len(in)*k/parts])
			}
			return cuts
		}
	}
	if hi-lo < 2 {
		return nil
	}
	w := float64(hi - lo)
	for k := 1; k < parts; k++ {
		add(lo + int64(w*float64(k)/float64(parts)))
	}
	return cuts
}

// ---- queries ----

// and joins filters, dropping a group of one.
func and(q ...intercom.Query) intercom.Query {
	if len(q) == 1 {
		return q[0]
	}
	return intercom.And(q...)
}

// How the conversation search compares updated_at with a bound: the API
// documents ">" as "greater (or equal)" and "<" as "lower (or equal)", but
// the exporter never relies on it (docs/intercom.md). Until a read shows
// both include their bound (learnBounds), ranges are searched one second
// wider at each end: they then hold their records whichever way the API
// compares, and the records of a boundary second are read twice (and
// de-duplicated by id). Once known, ranges are searched exactly.
const (
	boundsUnknown int32 = iota
	boundsInclusive
	boundsOther
)

// convRange is the conversation search filter for updated_at in sp.
func (s *searcher) convRange(sp span) []intercom.Query {
	var q []intercom.Query
	d := int64(1)
	if s.bounds.Load() == boundsInclusive {
		d = 0
	}
	if sp.lo != openLo {
		q = append(q, intercom.Filter("updated_at", ">", sp.lo-d))
	}
	if sp.hi != openHi {
		q = append(q, intercom.Filter("updated_at", "<", sp.hi+d))
	}
	return q
}

// convExact is the conversation filter for exactly updated_at in [lo, hi]
// (for counting): as documented, unless a read showed otherwise.
func (s *searcher) convExact(lo, hi int64) []intercom.Query {
	if s.bounds.Load() == boundsOther {
		return []intercom.Query{intercom.Filter("updated_at", ">", lo-1), intercom.Filter("updated_at", "<", hi+1)}
	}
	return []intercom.Query{intercom.Filter("updated_at", ">", lo), intercom.Filter("updated_at", "<", hi)}
}

// learnBounds finds out, once, whether the conversation search's ">" and
// "<" include their bound: with both at the updated_at of a conversation
// just read, the search finds it only if both do (one request).
func (s *searcher) learnBounds(ctx context.Context, read []intercom.Conversation) {
	if s.bounds.Load() != boundsUnknown || len(read) == 0 {
		return
	}
	v := read[0].UpdatedAt
	n, err := s.countConversations(ctx, intercom.And(
		intercom.Filter("updated_at", ">", v), intercom.Filter("updated_at", "<", v)))
	switch {
	case err != nil:
		return // a later read tries again; until then ranges are widened
	case n > 0:
		s.bounds.CompareAndSwap(boundsUnknown, boundsInclusive)
	default:
		s.bounds.CompareAndSwap(boundsUnknown, boundsOther)
	}
}

// contactDays is the contact search filter for updated_at on the days of
// sp (days in the workspace timezone, where the contact search compares
// dates by whole day: "> t" matches from the day after t's, "< t" before
// t's day).
func contactDays(sp span, loc *time.Location) []intercom.Query {
	var q []intercom.Query
	if sp.lo != openLo {
		q = append(q, intercom.Filter("updated_at", ">", (engagement.Day(sp.lo)-1).Start(loc).Unix()))
	}
	if sp.hi != openHi {
		q = append(q, intercom.Filter("updated_at", "<", (engagement.Day(sp.hi)+1).Start(loc).Unix()))
	}
	return q
}

// ---- counting ----

// countConversations is how many conversations match q (one request).
func (s *searcher) countConversations(ctx context.Context, q intercom.Query) (int, error) {
	return s.count(ctx, "conversations", func() (int, error) {
		p, err := s.c.SearchConversationsPage(ctx, q, 1, "")
		return p.Total, err
	})
}

// countContacts is how many contacts match q (one request).
func (s *searcher) countContacts(ctx context.Context, q intercom.Query) (int, error) {
	return s.count(ctx, "contacts", func() (int, error) {
		p, err := s.c.SearchContactsPage(ctx, q, 1, "")
		return p.Total, err
	})
}

// count runs one counting search through the in-flight budget; total is
// the answer's total_count, negative when the answer had none.
func (s *searcher) count(ctx context.Context, what string, total func() (int, error)) (int, error) {
	var n int
	err := s.do(ctx, func() error {
		var err error
		n, err = total()
		if err == nil && n < 0 {
			err = fmt.Errorf("the answer has no total_count")
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("counting %s: %w", what, err)
	}
	return n, nil
}

// ---- by id ----

// byID reads records by id, idsPerSearch a search ("id IN [...]"), all
// chunks at once within the in-flight budget. A record not found (deleted
// since) is simply absent.
func byID[T any](ctx context.Context, s *searcher, what string, ids []string,
	page func(ctx context.Context, q intercom.Query, perPage int, cursor string) (intercom.SearchPage[T], error),
	emit func([]T)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for len(ids) > 0 {
		chunk := ids[:min(idsPerSearch, len(ids))]
		ids = ids[len(chunk):]
		wg.Go(func() {
			q := intercom.Filter("id", "IN", chunk)
			cursor := ""
			for {
				var p intercom.SearchPage[T]
				err := s.do(ctx, func() error {
					var err error
					p, err = page(ctx, q, perPage, cursor)
					return err
				})
				if err != nil {
					errOnce.Do(func() {
						first = fmt.Errorf("%s by id: %w", what, err)
						cancel(first)
					})
					return
				}
				emit(p.Items)
				if p.Next == "" {
					return
				}
				cursor = p.Next
			}
		})
	}
	wg.Wait()
	return first
}
