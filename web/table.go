package web

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// value is one cell, typed for JSON (CSV writes them all as text).
type value struct {
	kind byte
	s    string
	n    int
}

const (
	kindString byte = iota
	kindInt
	kindBool
)

func str(s string) value { return value{kind: kindString, s: s} }
func num(n int) value    { return value{kind: kindInt, n: n} }
func flag(b bool) value {
	if b {
		return value{kind: kindBool, n: 1}
	}
	return value{kind: kindBool}
}

// text is the cell as CSV text, before neutralisation.
func (v value) text() string {
	switch v.kind {
	case kindInt:
		return strconv.Itoa(v.n)
	case kindBool:
		if v.n != 0 {
			return "true"
		}
		return "false"
	}
	return v.s
}

// table is a report's rows, ready to stream.
type table struct {
	columns []string
	// csv is how many of the columns, from the first, the CSV form has
	// (0: all); the JSON form has them all.
	csv int
	n   int
	// row fills dst with row i: the first csv columns (all when csv is 0).
	row func(i int, dst []value)
	// extra fills dst with the JSON-only columns of row i; nil when none.
	// CSV files never pay for them.
	extra func(i int, dst []value)
}

// csvWidth is the number of columns of the CSV form.
func (t *table) csvWidth() int {
	if t.csv > 0 {
		return t.csv
	}
	return len(t.columns)
}

// CleanCell makes a CSV cell safe to open in a spreadsheet: a cell that
// begins with =, +, -, @, tab or carriage return is prefixed with ' (the
// OWASP advice against formula injection); invalid UTF-8 is replaced and
// carriage returns become newlines, so that every cell reads back from
// encoding/csv exactly as written.
func CleanCell(s string) string {
	if s == "" {
		return s
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		s = "'" + s
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	return s
}

// writeCSV streams t as CSV with a header row.
func writeCSV(w io.Writer, t table) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	cw := csv.NewWriter(bw) // uses bw as its buffer
	cols := t.columns[:t.csvWidth()]
	if err := cw.Write(cols); err != nil {
		return err
	}
	vals := make([]value, len(cols))
	rec := make([]string, len(cols))
	for i := 0; i < t.n; i++ {
		t.row(i, vals)
		for j, v := range vals {
			rec[j] = CleanCell(v.text())
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// writeJSON streams t as a JSON array of objects keyed by the column names
// (for Grafana's Infinity data source). Values keep their type; they are
// not neutralised (JSON is not opened by spreadsheets).
func writeJSON(w io.Writer, t table) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	keys := make([][]byte, len(t.columns))
	for j, c := range t.columns {
		k, _ := json.Marshal(c)
		keys[j] = append(k, ':')
	}
	vals := make([]value, len(t.columns))
	var buf []byte
	_, _ = bw.WriteString("[")
	for i := 0; i < t.n; i++ {
		if i > 0 {
			_, _ = bw.WriteString(",")
		}
		_, _ = bw.WriteString("\n{")
		w := t.csvWidth()
		t.row(i, vals[:w])
		if t.extra != nil {
			t.extra(i, vals[w:])
		}
		for j, v := range vals {
			if j > 0 {
				_ = bw.WriteByte(',')
			}
			_, _ = bw.Write(keys[j])
			buf = buf[:0]
			switch v.kind {
			case kindString:
				buf = appendJSONString(buf, v.s)
			default:
				buf = append(buf, v.text()...)
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
		_ = bw.WriteByte('}')
	}
	_, _ = bw.WriteString("\n]\n")
	return bw.Flush()
}

// appendJSONString appends s as a JSON string: plain ASCII as is, anything
// else through encoding/json.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
