package collector

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The report metrics are written straight from a publication's series in
// the text exposition formats (Prometheus text and OpenMetrics), byte for
// byte as the client library's encoder writes the same families, without
// building a metric object per series first: at the scale of a large
// workspace (60,000 series) gathering them through a registry took most
// of a second. Families are written in the order of docs/metrics.md,
// label pairs in the order of their names, as the library sorts them.
// Only gauges with valid names are written here.

// reportFamily is one family to write: its name, help and label names in
// the order their values are given.
type reportFamily struct {
	name, help string
	labels     []string
	// order lists the label positions in the order of the label names.
	order []int
}

func newReportFamily(name, help string, labels ...string) reportFamily {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return reportFamily{name: name, help: help, labels: labels, order: order}
}

func (f *reportFamily) desc() *prometheus.Desc {
	return prometheus.NewDesc(f.name, f.help, f.labels, nil)
}

// expWriter writes families in one of the text formats.
type expWriter struct {
	b  *bytes.Buffer
	om bool // OpenMetrics
}

var (
	helpEscaper       = strings.NewReplacer("\\", `\\`, "\n", `\n`)
	quotedHelpEscaper = strings.NewReplacer("\\", `\\`, "\n", `\n`, "\"", `\"`)
)

func (w *expWriter) header(f *reportFamily) {
	w.b.WriteString("# HELP ")
	w.b.WriteString(f.name)
	w.b.WriteByte(' ')
	if w.om {
		_, _ = quotedHelpEscaper.WriteString(w.b, f.help)
	} else {
		_, _ = helpEscaper.WriteString(w.b, f.help)
	}
	w.b.WriteString("\n# TYPE ")
	w.b.WriteString(f.name)
	w.b.WriteString(" gauge\n")
}

// sample writes one sample of f with the label values lv (in f's label
// order).
func (w *expWriter) sample(f *reportFamily, lv []string, v float64) {
	w.b.WriteString(f.name)
	if len(lv) > 0 {
		w.b.WriteByte('{')
		for k, i := range f.order {
			if k > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(f.labels[i])
			w.b.WriteString(`="`)
			writeLabelValue(w.b, lv[i])
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	writeValue(w.b, v, w.om)
	w.b.WriteByte('\n')
}

func writeLabelValue(b *bytes.Buffer, v string) {
	if !strings.ContainsAny(v, "\\\n\"") {
		b.WriteString(v)
		return
	}
	_, _ = quotedHelpEscaper.WriteString(b, v)
}

// writeValue writes v as the library does: integers without a fraction
// in the Prometheus text format and with ".0" in OpenMetrics.
func writeValue(b *bytes.Buffer, v float64, om bool) {
	switch {
	case math.IsNaN(v):
		b.WriteString("NaN")
		return
	case math.IsInf(v, +1):
		b.WriteString("+Inf")
		return
	case math.IsInf(v, -1):
		b.WriteString("-Inf")
		return
	}
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
	b.Write(s)
	if om && !bytes.ContainsAny(s, "e.") {
		b.WriteString(".0")
	}
}

// writeReports writes the report metrics of p: the families with at least
// one sample (as a registry would gather them), without OpenMetrics'
// final "# EOF" (the live part ends the exposition).
func (c *Collector) writeReports(b *bytes.Buffer, p *publication, om bool) {
	w := &expWriter{b: b, om: om}
	m := c.m
	for i := range families {
		f := &families[i]
		rf := &m.reportFams[i]
		if len(p.series[i]) == 0 {
			continue
		}
		w.header(rf)
		lv := make([]string, len(rf.labels))
		for _, sr := range p.series[i] {
			copy(lv, sr.labels)
			if f.fixed == nil {
				w.sample(rf, lv, sr.values[0])
				continue
			}
			for j, fv := range f.fixed {
				lv[len(lv)-1] = fv
				w.sample(rf, lv, sr.values[j])
			}
		}
	}
	w.header(&m.mergedFam)
	for i := range families {
		w.sample(&m.mergedFam, []string{families[i].name}, float64(p.merged[i]))
	}
	if len(p.attrOrder) > 0 {
		w.header(&m.invalidFam)
		for _, a := range p.attrOrder {
			w.sample(&m.invalidFam, []string{a}, float64(p.invalid[a]))
		}
	}
}
