package engagement_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/coaching/intercom_exporter/engagement"
)

func TestCheckAttributes(t *testing.T) {
	const lastCall, status = "Last Coaching Call", "Engagement Status"
	okLastCall := engagement.AttributeInfo{Name: lastCall, DataType: "date", APIWritable: true}
	okStatus := engagement.AttributeInfo{Name: status, DataType: "string", APIWritable: true}
	other := engagement.AttributeInfo{Name: "Employer", DataType: "string", APIWritable: true}
	with := func(a engagement.AttributeInfo, edit func(*engagement.AttributeInfo)) engagement.AttributeInfo {
		edit(&a)
		return a
	}
	for _, tc := range []struct {
		name     string
		attrs    []engagement.AttributeInfo
		lastCall string
		status   string
		// want lists, per problem, words its text must contain; nil = fine.
		want [][]string
	}{
		{name: "both fine (date)", attrs: []engagement.AttributeInfo{other, okLastCall, okStatus}},
		{name: "both fine (last call as integer)", attrs: []engagement.AttributeInfo{
			with(okLastCall, func(a *engagement.AttributeInfo) { a.DataType = "integer" }), okStatus}},
		{name: "an archived duplicate beside the usable one is fine", attrs: []engagement.AttributeInfo{
			with(okLastCall, func(a *engagement.AttributeInfo) { a.Archived = true }), okLastCall, okStatus}},
		{name: "last call missing", attrs: []engagement.AttributeInfo{other, okStatus},
			want: [][]string{{`"Last Coaching Call"`, "does not exist", "create it"}}},
		{name: "both missing", attrs: []engagement.AttributeInfo{other},
			want: [][]string{{`"Last Coaching Call"`, "does not exist"}, {`"Engagement Status"`, "does not exist"}}},
		{name: "missing but spelt differently", attrs: []engagement.AttributeInfo{
			with(okLastCall, func(a *engagement.AttributeInfo) { a.Name = "last coaching call" }), okStatus},
			want: [][]string{{`"Last Coaching Call" does not exist`, `"last coaching call"`, "differs only in case"}}},
		{name: "status archived", attrs: []engagement.AttributeInfo{okLastCall,
			with(okStatus, func(a *engagement.AttributeInfo) { a.Archived = true })},
			want: [][]string{{`"Engagement Status"`, "archived"}}},
		{name: "last call not writable by the API", attrs: []engagement.AttributeInfo{okStatus,
			with(okLastCall, func(a *engagement.AttributeInfo) { a.APIWritable = false })},
			want: [][]string{{`"Last Coaching Call"`, "not writable through the API"}}},
		{name: "last call of a wrong type", attrs: []engagement.AttributeInfo{okStatus,
			with(okLastCall, func(a *engagement.AttributeInfo) { a.DataType = "string" })},
			want: [][]string{{`"Last Coaching Call"`, `type "string"`, "date or integer"}}},
		{name: "status of a wrong type", attrs: []engagement.AttributeInfo{okLastCall,
			with(okStatus, func(a *engagement.AttributeInfo) { a.DataType = "boolean" })},
			want: [][]string{{`"Engagement Status"`, `type "boolean"`, "needs string"}}},
		{name: "every problem of one attribute is named", attrs: []engagement.AttributeInfo{okLastCall,
			{Name: status, DataType: "float", Archived: true}},
			want: [][]string{{`"Engagement Status"`, "archived"}, {`"Engagement Status"`, "not writable"}, {`"Engagement Status"`, `type "float"`}}},
		{name: "problems of both attributes are named", attrs: []engagement.AttributeInfo{
			with(okLastCall, func(a *engagement.AttributeInfo) { a.Archived = true }),
			with(okStatus, func(a *engagement.AttributeInfo) { a.APIWritable = false })},
			want: [][]string{{`"Last Coaching Call"`, "archived"}, {`"Engagement Status"`, "not writable"}}},
		{name: "same attribute configured for both", attrs: []engagement.AttributeInfo{okStatus}, lastCall: status,
			want: [][]string{{"both configured as", "two different"}, {`"Engagement Status"`, `type "string"`, "date or integer"}}},
		{name: "empty name", attrs: []engagement.AttributeInfo{okLastCall, okStatus}, status: " ",
			want: [][]string{{"status attribute name is empty"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc, st := tc.lastCall, tc.status
			if lc == "" {
				lc = lastCall
			}
			if st == "" {
				st = status
			}
			err := engagement.CheckAttributes(tc.attrs, lc, st)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var ae *engagement.AttributesError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want *AttributesError", err)
			}
			if len(ae.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d", ae.Problems, len(tc.want))
			}
			for i, words := range tc.want {
				for _, w := range words {
					if !strings.Contains(ae.Problems[i], w) {
						t.Errorf("problem %d %q does not contain %q", i, ae.Problems[i], w)
					}
				}
				if !strings.Contains(err.Error(), ae.Problems[i]) {
					t.Errorf("error text %q does not name problem %q", err.Error(), ae.Problems[i])
				}
			}
		})
	}
}
