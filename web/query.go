package web

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coaching/intercom_exporter/engagement"
)

// badRequest is bad input: answered 400 with its one-line message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &badRequest{fmt.Sprintf(format, args...)}
}

// maxValueLen bounds a query value: names and dates are short, and the
// channel-mix parser should never see a megabyte.
const maxValueLen = 1000

// query is a parsed query string whose parameters are all known.
type query struct{ v url.Values }

// parseQuery parses raw and refuses parameters not in allowed, empty values
// and overlong ones. The filters (coach, employer, channel, channels, band)
// follow docs/dashboards.md: var-<name> is <name> (Grafana's spelling of a
// variable in a URL), and an empty value, ".*" or "$__all" (what a
// dashboard sends for All) means no filter.
func parseQuery(raw string, allowed []string) (query, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, badf("the query string does not parse: %v", err)
	}
	normaliseFilters(v, allowed)
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) && len(allowed) == 0 {
			return query{}, badf("unknown query parameter %q; this endpoint takes none", k)
		}
		if !slices.Contains(allowed, k) {
			return query{}, badf("unknown query parameter %q; this endpoint takes %s", k, strings.Join(allowed, ", "))
		}
		for _, val := range v[k] {
			if strings.TrimSpace(val) == "" {
				return query{}, badf("query parameter %s is empty", k)
			}
			if len(val) > maxValueLen {
				return query{}, badf("query parameter %s is longer than %d characters", k, maxValueLen)
			}
		}
	}
	return query{v}, nil
}

// one is a parameter that may be given at most once; "" when absent.
func (q query) one(name string) (string, error) {
	vals := q.v[name]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vals[0]), nil
	}
	return "", badf("query parameter %s is given %d times; give it once", name, len(vals))
}

// set is a parameter that may repeat (OR); nil when absent.
func (q query) set(name string) map[string]bool {
	vals := q.v[name]
	if len(vals) == 0 {
		return nil
	}
	s := make(map[string]bool, len(vals))
	for _, v := range vals {
		s[strings.TrimSpace(v)] = true
	}
	return s
}

// match reports whether v passes a filter set (nil passes everything).
func match(set map[string]bool, v string) bool { return set == nil || set[v] }

// Output formats.
const (
	formatCSV  = "csv"
	formatJSON = "json"
)

func (q query) format() (string, error) {
	f, err := q.one("format")
	if err != nil {
		return "", err
	}
	switch strings.ToLower(f) {
	case "", formatCSV:
		return formatCSV, nil
	case formatJSON:
		return formatJSON, nil
	}
	return "", badf("unknown format %q; use csv or json", f)
}

// day is an optional date parameter; ok is false when absent.
func (q query) day(name string) (d engagement.Day, ok bool, err error) {
	s, err := q.one(name)
	if err != nil || s == "" {
		return 0, false, err
	}
	d, err = engagement.ParseDay(s)
	if err != nil {
		return 0, false, badf("%s: %v", name, err)
	}
	return d, true, nil
}

// dayRange reads from and to (each optional) and checks from <= to.
func (q query) dayRange() (from, to engagement.Day, hasFrom, hasTo bool, err error) {
	if from, hasFrom, err = q.day("from"); err != nil {
		return
	}
	if to, hasTo, err = q.day("to"); err != nil {
		return
	}
	if hasFrom && hasTo && from > to {
		err = badf("from %s is after to %s", from, to)
	}
	return
}

// month reads the billing month; def when absent.
func (q query) month(def engagement.Month) (engagement.Month, error) {
	s, err := q.one("month")
	if err != nil || s == "" {
		return def, err
	}
	m, err := engagement.ParseMonth(s)
	if err != nil {
		return engagement.Month{}, &badRequest{err.Error()}
	}
	if m.Year < 1 {
		// Year 0 would show up as year -001 in the reasons further on.
		return engagement.Month{}, badf("month %q: the year is out of range", s)
	}
	return m, nil
}

// boolean reads an optional true/false parameter.
func (q query) boolean(name string) (bool, error) {
	s, err := q.one(name)
	if err != nil || s == "" {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badf("%s %q is neither true nor false", name, s)
	}
	return b, nil
}

// lookbackDays reads lookback_days: an integer in 1..max; max when absent.
func (q query) lookbackDays(max int) (int, error) {
	s, err := q.one("lookback_days")
	if err != nil || s == "" {
		return max, err
	}
	// Digits only, untrimmed: Atoi would take "+7", and an unencoded "+7"
	// in a URL arrives as " 7".
	s = q.v["lookback_days"][0]
	n, err := strconv.Atoi(s)
	if strings.Trim(s, "0123456789") != "" || err != nil || n < 1 || n > max {
		if max == math.MaxInt { // before the first refresh
			return 0, badf("lookback_days %q is not a positive integer", s)
		}
		return 0, badf("lookback_days %q is not an integer in 1..%d (LOOKBACK_DAYS)", s, max)
	}
	return n, nil
}

// channels reads the sessions filter channel: each value any spelling of a
// session channel. It returns the set of channel indexes, nil when absent.
func (q query) channels(ch engagement.Channels) (map[int]bool, error) {
	vals := q.v["channel"]
	if len(vals) == 0 {
		return nil, nil
	}
	set := make(map[int]bool, len(vals))
	for _, v := range vals {
		i := ch.Lookup(v)
		if i < 0 {
			return nil, badf("unknown channel %q; the session channels are %s", v, strings.Join(ch.Names(), ", "))
		}
		set[i] = true
	}
	return set, nil
}

// mixes reads the caseload filter channels: each value a channel mix such
// as Phone+Email (the intercom_caseload_channel_mix label), with channels
// in any order and spelling, joined by "+", "," or spaces (an unencoded "+"
// in a URL arrives as a space). It returns the canonical mix spellings.
func (q query) mixes(ch engagement.Channels) (map[string]bool, error) {
	vals := q.v["channels"]
	if len(vals) == 0 {
		return nil, nil
	}
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		bits, err := parseMix(ch, v)
		if err != nil {
			return nil, err
		}
		set[ch.Mix(bits)] = true
	}
	return set, nil
}

// parseMix splits a channel mix into session channels. Channel names may
// hold spaces, so the words are matched to names, longest name first.
func parseMix(ch engagement.Channels, raw string) (uint32, error) {
	names := ch.Names()
	index := make(map[string]int, len(names))
	maxWords := 1
	for i, n := range names {
		w := strings.Fields(strings.ToLower(n))
		index[strings.Join(w, " ")] = i
		maxWords = max(maxWords, len(w))
	}
	words := strings.FieldsFunc(strings.ToLower(raw), func(r rune) bool {
		return r == '+' || r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	bad := badf("channels %q is not a channel mix of %s (join channels with +, written %%2B in a URL)", raw, strings.Join(names, ", "))
	if len(words) == 0 {
		return 0, bad
	}
	// sets[i] is the channel set that covers words[i:], ok[i] whether any does.
	n := len(words)
	sets := make([]uint32, n+1)
	ok := make([]bool, n+1)
	ok[n] = true
	for i := n - 1; i >= 0; i-- {
		for j := min(n, i+maxWords); j > i; j-- {
			if !ok[j] {
				continue
			}
			if c, found := index[strings.Join(words[i:j], " ")]; found {
				sets[i], ok[i] = sets[j]|1<<uint(c), true
				break
			}
		}
	}
	if !ok[0] {
		return 0, bad
	}
	return sets[0], nil
}

// asBadRequest turns a *engagement.BillingMonthError into bad input.
func asBadRequest(err error) error {
	var bm *engagement.BillingMonthError
	if errors.As(err, &bm) {
		return &badRequest{bm.Reason}
	}
	return err
}

// syntax checks the parameters whose form needs no data: month, live,
// dry_run, from and to, lookback_days (its upper bound, LOOKBACK_DAYS,
// comes with the data). Names and channels are checked against the data.
func (q query) syntax() error {
	if _, err := q.month(engagement.Month{}); err != nil {
		return err
	}
	if _, err := q.boolean("live"); err != nil {
		return err
	}
	if _, _, _, _, err := q.dayRange(); err != nil {
		return err
	}
	if _, err := q.lookbackDays(math.MaxInt); err != nil {
		return err
	}
	return nil
}
