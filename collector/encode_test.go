package collector

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/coaching/intercom_exporter/engagement"
)

// The report metrics written straight from the series are what the
// client library's encoder writes for the same metrics gathered through a
// registry, in both text formats, with label values that need escaping
// and values that are not integers.
func TestWriteReports_SameLinesAsTheLibraryEncoder(t *testing.T) {
	c := New(Settings{RefreshInterval: 15 * time.Minute, MaxSeriesPerFamily: 100,
		TimeAttributes: []string{"Registration Date", "Last \"Call\""}}, slog.New(slog.DiscardHandler))
	p := &publication{
		model:     &engagement.Model{Now: time.Date(2026, 3, 15, 12, 0, 0, 123e6, time.UTC)},
		invalid:   map[string]int{"Registration Date": 2},
		attrOrder: c.set.TimeAttributes,
	}
	p.series[famCaseload] = []series{
		{[]string{`Ann "the coach"`, `Back\slash`}, []float64{1, 0, 2.5, -1}},
		{[]string{"Bob", "Line\nbreak"}, []float64{1e21, 3, 0, 7}},
	}
	p.series[famChannelMix] = []series{{[]string{"Bob", "Acme", "Email+Phone"}, []float64{4}}}
	p.series[famEngagement] = []series{{[]string{"(other)"}, []float64{0, 1, 2, 3}}}
	p.merged[famEngagement] = 3

	for _, format := range []expfmt.Format{
		expfmt.NewFormat(expfmt.TypeTextPlain),
		expfmt.NewFormat(expfmt.TypeOpenMetrics),
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(reportCollector{c, p})
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := expfmt.NewEncoder(&want, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		var got bytes.Buffer
		c.writeReports(&got, p, format.FormatType() == expfmt.TypeOpenMetrics)
		if g, w := lines(got.String()), lines(want.String()); !slices.Equal(g, w) {
			t.Errorf("%s:\n got %q\nwant %q", format, g, w)
		}
	}
}

func lines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return l
}
