package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzQueryParsing sends any query string to every report and to
// POST /sync: the answer is 200 with a complete file or 400 with a
// one-line reason, never a 500 or a panic.
//
//	go test -run '^$' -fuzz '^FuzzQueryParsing$' -fuzztime 60s -fuzzminimizetime 5s ./web/
func FuzzQueryParsing(f *testing.F) {
	for _, seed := range []string{
		"", "month=2026-10", "month=2026-10&employer=Acme&employer=Beta+Ltd", "format=json", "lookback_days=30",
		"channels=Phone%2BEmail", "channels=chat+phone", "channel=video%20conference", "from=2026-10-01&to=2026-10-31",
		"coach=unassigned", "dry_run=true", "month=2026-13", "from=2026-02-30", "%zz", "a=1;b=2", "format=xml",
	} {
		f.Add(seed)
	}
	s := newTestServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/billing.csv", "/caseload.csv", "/participants.csv", "/sessions.csv", "/sync"} {
			method := http.MethodGet
			if path == "/sync" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, path, nil)
			req.URL.RawQuery = raw
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			switch rec.Code {
			case http.StatusOK:
				if path == "/sync" {
					if !json.Valid([]byte(body)) {
						t.Fatalf("%s?%s: invalid JSON %q", path, raw, body)
					}
					continue
				}
				if rec.Header().Get("X-Data-Timestamp") != fixtureTimestamp {
					t.Fatalf("%s?%s: no X-Data-Timestamp", path, raw)
				}
				if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
					if !json.Valid([]byte(body)) {
						t.Fatalf("%s?%s: invalid JSON %q", path, raw, body)
					}
					continue
				}
				if _, err := csv.NewReader(strings.NewReader(body)).ReadAll(); err != nil {
					t.Fatalf("%s?%s: CSV does not parse: %v", path, raw, err)
				}
			case http.StatusBadRequest:
				if path == "/sync" {
					var e syncError
					if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || strings.ContainsAny(e.Error, "\r\n") {
						t.Fatalf("%s?%s: bad error body %q", path, raw, body)
					}
					continue
				}
				if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") || len(body) < 5 {
					t.Fatalf("%s?%s: reason is not one line: %q", path, raw, body)
				}
			default:
				t.Fatalf("%s?%s: code %d: %s", path, raw, rec.Code, body)
			}
		}
		// The channel-mix parser on its own: a result is always a
		// non-empty set of known channels.
		m := fixtureModel()
		if bits, err := parseMix(m.Channels, raw); err == nil {
			if bits == 0 || bits >= 1<<uint(len(m.Channels.Names())) {
				t.Fatalf("parseMix(%q) = %b", raw, bits)
			}
		}
	})
}

// FuzzCSVCells writes any cells through the CSV writer and reads them back:
// no cell begins with = + - @ tab or CR, and every cell reads back as
// CleanCell of what was written (a ' before a formula character, CRs as
// newlines, invalid UTF-8 replaced). The same cells through the JSON
// writer give valid JSON that keeps valid text exactly.
//
//	go test -run '^$' -fuzz '^FuzzCSVCells$' -fuzztime 60s -fuzzminimizetime 5s ./web/
func FuzzCSVCells(f *testing.F) {
	for _, seed := range [][3]string{
		{"=SUM(A1:A9)", "+1", "-1"}, {"@cmd", "\tx", "\rx"}, {`Smith, "J"`, "a\nb", "a\r\nb"},
		{"", " ", `\.`}, {"'=already", "\xff\xfe", "ünï"}, {"=", "\r", "\r\n"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		cells := [][]string{{a, b, c}, {c, a, b}}
		tb := table{columns: []string{"A", "B", "C"}, n: len(cells), row: func(i int, d []value) {
			for j := range d {
				d[j] = str(cells[i][j])
			}
		}}
		var buf bytes.Buffer
		if err := writeCSV(&buf, tb); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not read back: %v\n%q", err, buf.String())
		}
		if len(recs) != 3 {
			t.Fatalf("%d records, want 3: %q", len(recs), recs)
		}
		for i, row := range cells {
			for j, cell := range row {
				got := recs[i+1][j]
				if got != CleanCell(cell) {
					t.Fatalf("cell %q read back as %q, want %q", cell, got, CleanCell(cell))
				}
				if got != "" && strings.ContainsRune("=+-@\t\r", rune(got[0])) {
					t.Fatalf("cell %q begins with %q", got, got[0])
				}
				if utf8.ValidString(cell) && !strings.ContainsRune(cell, '\r') && got != cell && got != "'"+cell {
					t.Fatalf("valid cell %q changed to %q", cell, got)
				}
			}
		}

		buf.Reset()
		if err := writeJSON(&buf, tb); err != nil {
			t.Fatal(err)
		}
		var objs []map[string]string
		if err := json.Unmarshal(buf.Bytes(), &objs); err != nil {
			t.Fatalf("JSON does not read back: %v\n%q", err, buf.String())
		}
		for i, row := range cells {
			for j, cell := range row {
				if utf8.ValidString(cell) && objs[i][tb.columns[j]] != cell {
					t.Fatalf("JSON cell %q read back as %q", cell, objs[i][tb.columns[j]])
				}
			}
		}
	})
}
