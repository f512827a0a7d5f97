package intercomtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSearchConversations_150From100k serves pages of 150 conversations
// (the exporter's full-load query: closed, updated in the last year) from a
// workspace of 100,000 conversations, walking the cursor as a client does.
// The handler is called directly, so the figure is the fake's own work:
// query, index walk and JSON encoding.
func BenchmarkSearchConversations_150From100k(b *testing.B) {
	ws := Generate(GenerateOptions{Seed: 1, Participants: 10000, Conversations: 100_000, Now: genNow})
	s := newServer(ws, Options{RateLimitPerMinute: 1 << 30})
	h := s.Handler()
	query := `{"operator":"AND","value":[{"field":"updated_at","operator":">","value":` +
		jsonInt(genNow.Unix()-365*86400) + `},{"field":"state","operator":"=","value":"closed"}]}`
	after := ""
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		body := `{"query":` + query + `,"pagination":{"per_page":150`
		if after != "" {
			body += `,"starting_after":"` + after + `"`
		}
		body += `}}`
		req := httptest.NewRequest(http.MethodPost, "/conversations/search", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		after = nextCursor(rec.Body.Bytes()) // "" after the last page: start again
		s.ResetRequests()
	}
}

// nextCursor finds pages.next.starting_after without decoding the page, so
// that the client's work stays out of the figure.
func nextCursor(body []byte) string {
	const key = `"starting_after":"`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
