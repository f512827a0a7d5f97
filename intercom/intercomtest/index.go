package intercomtest

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// orderKey is the position of a record in search results: updated_at, then
// id (numerically when both ids are canonical integers, as conversation ids
// are; numeric ids sort before others; otherwise as text). It is unique per
// record, so a cursor that names a key names a position that stays valid
// while records move, appear or disappear.
type orderKey struct {
	at  int64
	num int64 // canonical numeric id, or -1
	id  string
}

func (a orderKey) cmp(b orderKey) int {
	if c := cmp.Compare(a.at, b.at); c != 0 {
		return c
	}
	switch {
	case a.num >= 0 && b.num >= 0:
		return cmp.Compare(a.num, b.num)
	case a.num >= 0:
		return -1
	case b.num >= 0:
		return 1
	}
	return strings.Compare(a.id, b.id)
}

// numericID returns the value of a canonical decimal id ("123", not "0123"
// or "+1"), or -1.
func numericID(s string) int64 {
	if s == "" || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// sortedIndex keeps record numbers ordered by their orderKey, so that range
// queries on updated_at and cursor positions are binary searches. Bulk
// loads and out-of-order inserts mark it dirty; it is rebuilt (one sort) on
// the next search. Single moves (a touched record) are done in place.
type sortedIndex struct {
	order []int32
	dirty bool
}

// lowerBound is the first position whose key is >= k.
func (x *sortedIndex) lowerBound(k orderKey, key func(int32) orderKey) int {
	return sort.Search(len(x.order), func(p int) bool { return key(x.order[p]).cmp(k) >= 0 })
}

// upperBound is the first position whose key is > k.
func (x *sortedIndex) upperBound(k orderKey, key func(int32) orderKey) int {
	return sort.Search(len(x.order), func(p int) bool { return key(x.order[p]).cmp(k) > 0 })
}

// add adds a new record i whose key is k. Appending in order is free; an
// out-of-order add to a large index marks it dirty, because many of those
// (a bulk load) are cheaper as one sort than as many moves.
func (x *sortedIndex) add(i int32, k orderKey, key func(int32) orderKey) {
	if x.dirty {
		return
	}
	n := len(x.order)
	if n == 0 || key(x.order[n-1]).cmp(k) < 0 {
		x.order = append(x.order, i)
		return
	}
	if n > 4096 {
		x.dirty = true
		return
	}
	x.insert(i, k, key)
}

// insert puts record i whose key is k at its place (one memmove).
func (x *sortedIndex) insert(i int32, k orderKey, key func(int32) orderKey) {
	if x.dirty {
		return
	}
	x.order = slices.Insert(x.order, x.lowerBound(k, key), i)
}

// remove drops record i, whose key (not yet changed) is k.
func (x *sortedIndex) remove(i int32, k orderKey, key func(int32) orderKey) {
	if x.dirty {
		return
	}
	p := x.lowerBound(k, key)
	if p < len(x.order) && x.order[p] == i {
		x.order = slices.Delete(x.order, p, p+1)
		return
	}
	x.dirty = true // not where it should be: rebuild rather than guess
}

// rebuild sorts the live records.
func (x *sortedIndex) rebuild(live []int32, key func(int32) orderKey) {
	x.order = live
	slices.SortFunc(x.order, func(a, b int32) int { return key(a).cmp(key(b)) })
	x.dirty = false
}
