package intercom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchPages builds n pages of 150 conversations, each the API
// description's example conversation with its own id, a channel and two
// contacts, linked by cursors.
func benchPages(b *testing.B, n int) [][]byte {
	var example struct {
		Conversations []map[string]any `json:"conversations"`
	}
	if err := json.Unmarshal(readFixture(b, "conversations_search.json"), &example); err != nil {
		b.Fatal(err)
	}
	conv := example.Conversations[0]
	pages := make([][]byte, n)
	for p := range n {
		list := make([]map[string]any, searchPerPage)
		for i := range list {
			c := make(map[string]any, len(conv))
			for k, v := range conv {
				c[k] = v
			}
			c["id"] = strconv.Itoa(p*searchPerPage + i)
			c["custom_attributes"] = map[string]any{"Channel": "Phone", "Topic": "Sleep"}
			c["contacts"] = map[string]any{"type": "contact.list", "contacts": []map[string]any{
				{"type": "contact", "id": fmt.Sprintf("6657aca16abd0166b52a%04d", i), "external_id": strconv.Itoa(i)},
				{"type": "contact", "id": fmt.Sprintf("6657aca16abd0166b52b%04d", i)},
			}}
			list[i] = c
		}
		pg := map[string]any{"type": "pages", "page": p + 1, "per_page": searchPerPage, "total_pages": n}
		if p+1 < n {
			pg["next"] = map[string]any{"per_page": searchPerPage, "starting_after": "cursor-" + strconv.Itoa(p+1)}
		}
		body, err := json.Marshal(map[string]any{"type": "conversation.list", "total_count": n * searchPerPage, "pages": pg, "conversations": list})
		if err != nil {
			b.Fatal(err)
		}
		pages[p] = body
	}
	return pages
}

func BenchmarkSearchConversations(b *testing.B) {
	const nPages = 10
	pages := benchPages(b, nPages)
	marker := []byte(`"starting_after":"cursor-`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := 0
		if i := bytes.Index(body, marker); i >= 0 {
			rest := body[i+len(marker):]
			p, _ = strconv.Atoi(string(rest[:bytes.IndexByte(rest, '"')]))
		}
		setRateHeaders(w, 10000, 1_000_000, time.Now().Add(10*time.Second))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[p])
	}))
	defer srv.Close()
	c, err := New(srv.URL, testToken, "2.10", WithLogger(discardLogger()))
	if err != nil {
		b.Fatal(err)
	}
	q := And(Filter("updated_at", ">", 1717000000), Filter("state", "=", "closed"))
	walk := func() int {
		n := 0
		if err := c.SearchConversations(context.Background(), q, func(page []Conversation) error {
			n += len(page)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return n
	}
	walk() // warm the connection and the limiter

	bytesPerWalk := 0
	for _, p := range pages {
		bytesPerWalk += len(p)
	}
	b.SetBytes(int64(bytesPerWalk))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	convs := 0
	for b.Loop() {
		convs += walk()
	}
	runtime.ReadMemStats(&after)
	if convs == 0 {
		b.Fatal("no conversations read")
	}
	// Mallocs counts the whole process, the in-process test server included.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(convs), "allocs/conversation")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(convs), "ns/conversation")
}
