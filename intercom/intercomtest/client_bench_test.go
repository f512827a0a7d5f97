package intercomtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// BenchmarkClientRead100kConversations reads 100,000 conversations from the
// fake over loopback HTTP with the real client, as the refresh does (one
// cursor, 150 a page), and reports the client-side cost per conversation.
// Allocations include the fake's, which runs in the same process; the
// fake-only figure is BenchmarkSearchConversations_150From100k.
func BenchmarkClientRead100kConversations(b *testing.B) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{Seed: 1, Participants: 10000, Conversations: 100_000, Now: now})
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: "t", RateLimitPerMinute: 1 << 30, Now: func() time.Time { return now }})
	defer srv.Close()
	c, err := intercom.New(srv.URL(), "t", "2.10")
	if err != nil {
		b.Fatal(err)
	}
	q := intercom.Filter("updated_at", ">", now.Unix()-400*86400)
	ctx := context.Background()
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n = 0
		err := c.SearchConversations(ctx, q, func(page []intercom.Conversation) error {
			n += len(page)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		srv.ResetRequests()
	}
	b.StopTimer()
	if n != ws.NumConversations() {
		b.Fatalf("read %d conversations, the workspace has %d", n, ws.NumConversations())
	}
	b.ReportMetric(float64(n), "conversations/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/conversation")
}

// TestClientWalksEveryPageOfALargeWorkspace reads every conversation of a
// 100,000-conversation workspace through the real client: the cursor must
// carry numeric conversation ids, or pages after the first are misplaced.
func TestClientWalksEveryPageOfALargeWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 40,000 conversations")
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ws := intercomtest.Generate(intercomtest.GenerateOptions{Seed: 1, Participants: 4000, Conversations: 40_000, Now: now})
	srv := intercomtest.NewServer(ws, intercomtest.Options{Token: "t", RateLimitPerMinute: 1 << 30, Now: func() time.Time { return now }})
	defer srv.Close()
	c, err := intercom.New(srv.URL(), "t", "2.10")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, 40_000)
	err = c.SearchConversations(context.Background(), intercom.Filter("updated_at", ">", now.Unix()-400*86400), func(page []intercom.Conversation) error {
		for _, conv := range page {
			if seen[conv.ID] {
				t.Errorf("conversation %s returned twice", conv.ID)
			}
			seen[conv.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every generated conversation was updated within the last 366 days
	// (the generator spreads them over 365), so all of them match.
	if len(seen) != ws.NumConversations() {
		t.Fatalf("read %d distinct conversations, the workspace has %d", len(seen), ws.NumConversations())
	}
}
