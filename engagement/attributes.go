package engagement

import (
	"fmt"
	"strings"
)

// AttributeInfo is a contact data attribute as Intercom describes it
// (GET /data_attributes?model=contact).
type AttributeInfo struct {
	Name, DataType        string
	APIWritable, Archived bool
}

// AttributesError lists everything that keeps the sync from writing the two
// attributes. The sync is then blocked until someone fixes it in Intercom.
type AttributesError struct {
	Problems []string
}

func (e *AttributesError) Error() string {
	return "engagement sync blocked: " + strings.Join(e.Problems, "; ")
}

// Usable data types (Intercom's data_type values, docs/intercom.md).
var (
	lastCallTypes = []string{"date", "integer"}
	statusTypes   = []string{"string"}
)

// CheckAttributes says exactly what is missing or unusable for the sync:
// both attributes must exist, not be archived, be writable by the API, and
// have a usable type (Last Coaching Call: date or integer; Engagement
// Status: string). It returns nil when all is fine, else an
// *AttributesError naming every problem.
func CheckAttributes(attrs []AttributeInfo, lastCallName, statusName string) error {
	var problems []string
	if strings.TrimSpace(lastCallName) != "" && strings.EqualFold(strings.TrimSpace(lastCallName), strings.TrimSpace(statusName)) {
		problems = append(problems, fmt.Sprintf(
			"the last call and the status attributes are both configured as %q; they must be two different attributes", lastCallName))
	}
	problems = append(problems, checkAttribute(attrs, "last call", lastCallName, lastCallTypes, "a Date (or Number) attribute")...)
	problems = append(problems, checkAttribute(attrs, "status", statusName, statusTypes, "a Text attribute")...)
	if len(problems) > 0 {
		return &AttributesError{Problems: problems}
	}
	return nil
}

// checkAttribute lists the problems of the attribute called name. When
// several attributes carry the name (an archived one and its replacement,
// say), the most usable one counts.
func checkAttribute(attrs []AttributeInfo, role, name string, types []string, create string) []string {
	if strings.TrimSpace(name) == "" {
		return []string{fmt.Sprintf("the %s attribute name is empty; configure it", role)}
	}
	var best []string
	found := false
	for _, a := range attrs {
		if a.Name != name {
			continue
		}
		p := attributeProblems(a, types)
		if !found || len(p) < len(best) {
			best, found = p, true
		}
	}
	if found {
		return best
	}
	msg := fmt.Sprintf("contact attribute %q does not exist in Intercom; create it as %s with that exact name (Settings > Data > People)", name, create)
	for _, a := range attrs {
		if strings.EqualFold(strings.TrimSpace(a.Name), strings.TrimSpace(name)) {
			msg += fmt.Sprintf(" or configure the existing %q, which differs only in case or spaces", a.Name)
			break
		}
	}
	return []string{msg}
}

func attributeProblems(a AttributeInfo, types []string) []string {
	var p []string
	if a.Archived {
		p = append(p, fmt.Sprintf("contact attribute %q is archived; unarchive it in Intercom", a.Name))
	}
	if !a.APIWritable {
		p = append(p, fmt.Sprintf("contact attribute %q is not writable through the API; it must be a custom attribute the API may update", a.Name))
	}
	usable := false
	for _, t := range types {
		if strings.EqualFold(strings.TrimSpace(a.DataType), t) {
			usable = true
		}
	}
	if !usable {
		p = append(p, fmt.Sprintf("contact attribute %q has type %q; the sync needs %s", a.Name, a.DataType, strings.Join(types, " or ")))
	}
	return p
}
