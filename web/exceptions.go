package web

import (
	"net/http"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// BillingExceptionColumns are the columns of /billing-exceptions.csv
// (docs/endpoints.md), part of the contract with finance.
var BillingExceptionColumns = []string{"User ID", "Name", "Email", "Employer", "Coach", "Registration Value",
	"Last Coaching Session", "Reason", "Qualifying Conversation"}

// FrozenBillingExceptions is implemented by a Source that freezes a month's
// billing exceptions with its cohort (collector.Exporter with STATE_DIR):
// ok is false when they are not frozen. The result is shared.
type FrozenBillingExceptions interface {
	FrozenBillingExceptions(month engagement.Month) (exceptions []engagement.BillingException, frozenAt time.Time, ok bool)
}

// billingExceptionsReport is /billing-exceptions.csv.
func (s *Server) billingExceptionsReport() report {
	return report{"billing-exceptions", []string{"month", "employer", "live"}, s.buildBillingExceptions}
}

// buildBillingExceptions serves the billing exceptions of docs/reports.md
// with the month rules of /billing.csv: ?month (default the previous
// month), employer filters, a frozen month as it was frozen (header
// X-Billing-Frozen) unless ?live=true.
func (s *Server) buildBillingExceptions(m *engagement.Model, q query, h http.Header) (table, string, error) {
	month, live, err := billingQuery(m, q)
	if err != nil {
		return table{}, "", err
	}
	var xs []engagement.BillingException
	frozenAt, isFrozen := time.Time{}, false
	if fb, ok := s.o.Source.(FrozenBillingExceptions); ok && !live {
		xs, frozenAt, isFrozen = fb.FrozenBillingExceptions(month)
	}
	employers, err := billingEmployers(s, m, q, xs, func(x engagement.BillingException) string { return x.Employer },
		[]string{"intercom_billing_exceptions"})
	if err != nil {
		return table{}, "", err
	}
	frozen := "false"
	if isFrozen {
		frozen = frozenAt.Format(time.RFC3339)
	} else if xs, err = m.BillingExceptions(month); err != nil {
		return table{}, "", asBadRequest(err)
	}
	var rows []engagement.BillingException // xs may be shared: filter into a new slice
	for _, x := range xs {
		if match(employers, x.Employer) {
			rows = append(rows, x)
		}
	}
	rows = sortRows(rows, func(x *engagement.BillingException) rowKey {
		return rowKey{employer: x.Employer, name: x.Name, id: x.ContactID}
	})
	h.Set("X-Billing-Frozen", frozen)
	return table{columns: BillingExceptionColumns, n: len(rows), row: func(i int, d []value) {
		x := &rows[i]
		d[0], d[1], d[2], d[3] = str(x.ContactID), str(x.Name), str(x.Email), str(x.Employer)
		d[4], d[5], d[6] = str(x.Coach), str(x.RegistrationValue), str(dayString(x.LastCall))
		d[7], d[8] = str(x.Reason), str(x.Qualifying)
	}}, month.String(), nil
}
