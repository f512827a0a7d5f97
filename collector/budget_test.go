package collector

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBudget_MergesSmallestEmployersIntoOtherUntilItFits(t *testing.T) {
	f := &families[famEngagement] // employer + 4 statuses: 4 series a group
	in := []series{
		{[]string{"Big"}, []float64{5, 1, 0, 0}},
		{[]string{"Mid"}, []float64{1, 1, 1, 0}},
		{[]string{"Small"}, []float64{0, 0, 1, 1}},
		{[]string{"Tiny"}, []float64{1, 0, 0, 0}},
	}
	size := map[string]int{"Big": 100, "Mid": 20, "Small": 3, "Tiny": 1}

	// 16 series; a budget of 12 needs one group less: Tiny and Small merge.
	out, merged := budget(clone(in), f, 12, size)
	assert.Equal(t, []string{"Small", "Tiny"}, merged)
	assert.Equal(t, []series{
		{[]string{"(other)"}, []float64{1, 0, 1, 1}},
		{[]string{"Big"}, []float64{5, 1, 0, 0}},
		{[]string{"Mid"}, []float64{1, 1, 1, 0}},
	}, out)
	assert.Equal(t, total(in), total(out), "sums are kept")

	// Within budget: untouched.
	out, merged = budget(clone(in), f, 16, size)
	assert.Empty(t, merged)
	assert.Len(t, out, 4)

	// A budget that only one group fits merges everything.
	out, merged = budget(clone(in), f, 4, size)
	assert.Equal(t, []string{"Big", "Mid", "Small", "Tiny"}, merged)
	assert.Equal(t, []series{{[]string{"(other)"}, []float64{7, 2, 2, 1}}}, out)
}

func TestBudget_MergesPerCoachKeepingOtherLabels(t *testing.T) {
	f := &families[famCaseload] // coach, employer, band
	in := []series{
		{[]string{"Ann", "A"}, []float64{1, 0, 0, 0}},
		{[]string{"Ann", "B"}, []float64{0, 1, 0, 0}},
		{[]string{"Ann", "C"}, []float64{0, 0, 1, 0}},
		{[]string{"Bo", "C"}, []float64{0, 0, 0, 1}},
	}
	size := map[string]int{"A": 10, "B": 2, "C": 1}
	out, merged := budget(clone(in), f, 12, size)
	// C goes first: (Ann,C) and (Bo,C) become (Ann,(other)) and (Bo,(other)):
	// still 4 groups; then B joins (Ann,(other)): 3 groups.
	assert.Equal(t, []string{"B", "C"}, merged)
	assert.Equal(t, []series{
		{[]string{"Ann", "(other)"}, []float64{0, 1, 1, 0}},
		{[]string{"Ann", "A"}, []float64{1, 0, 0, 0}},
		{[]string{"Bo", "(other)"}, []float64{0, 0, 0, 1}},
	}, out)
}

// clone is in as the groups budget takes.
func clone(in []series) *groups {
	g := newGroups(len(in), len(in[0].labels), len(in[0].values))
	for _, s := range in {
		g.labels = append(g.labels, s.labels...)
		g.values = append(g.values, s.values...)
	}
	return g
}

func total(s []series) float64 {
	t := 0.0
	for _, x := range s {
		for _, v := range x.values {
			t += v
		}
	}
	return t
}
