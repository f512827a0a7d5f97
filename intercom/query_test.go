package intercom

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuery_EncodesAsTheSearchAPIExpects(t *testing.T) {
	q := And(
		Filter("updated_at", ">", 1717000000),
		Or(Filter("state", "=", "closed"), Filter("state", "=", "open")),
		Filter("contact_ids", "IN", []string{"a", "b"}),
	)
	b, err := json.Marshal(q)
	require.NoError(t, err)
	assert.JSONEq(t, `{"operator":"AND","value":[
		{"field":"updated_at","operator":">","value":1717000000},
		{"operator":"OR","value":[{"field":"state","operator":"=","value":"closed"},{"field":"state","operator":"=","value":"open"}]},
		{"field":"contact_ids","operator":"IN","value":["a","b"]}]}`, string(b))
	assert.NoError(t, q.Validate())
}

func TestQuery_ValidateEnforcesTheSearchLimits(t *testing.T) {
	f := Filter("state", "=", "closed")
	n := func(k int) []Query {
		qs := make([]Query, k)
		for i := range qs {
			qs[i] = f
		}
		return qs
	}
	valid := []Query{
		f,
		Filter("email", "=", nil), // null values are allowed
		And(n(15)...),
		Or(And(f, f), And(f, f)), // (1 AND 2) OR (3 AND 4): two levels
		And(Or(n(15)...), f),
	}
	for _, q := range valid {
		assert.NoError(t, q.Validate(), "%+v", q)
	}
	invalid := map[string]Query{
		"16 filters in a group":    And(n(16)...),
		"16 filters in a subgroup": And(Or(n(16)...)),
		"three levels of groups":   And(Or(And(f, f), f), f),
		"empty group":              And(),
		"filter without field":     {Operator: "="},
		"unknown operator":         Filter("state", "==", "closed"),
		"group given as a value":   Filter("state", "=", []Query{f}),
		"group with a field":       {Field: "state", Operator: "AND", Value: []Query{f}},
		"group value not queries":  {Operator: "OR", Value: []string{"a"}},
		"lower-case group":         {Operator: "and", Value: []Query{f}},
	}
	for name, q := range invalid {
		assert.ErrorIs(t, q.Validate(), ErrInvalidQuery, name)
	}
}
