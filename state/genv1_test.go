package state

import (
	"os"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// TestGenerateVersion1File writes testdata/v1.state with the version-1
// encoder; run once with GEN_V1=1 before the format changed.
func TestGenerateVersion1File(t *testing.T) {
	if os.Getenv("GEN_V1") == "" {
		t.Skip("generator: GEN_V1=1")
	}
	f := &File{
		SavedAt:  time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
		Identity: "https://api.intercom.io",
		Data:     EncodeSnapshot(sample()),
		Written: map[string]engagement.Written{
			"6a1": {LastCall: 1773000000, Status: "Engaged", UpdatedAt: 1773500000},
			"6a2": {LastCall: 1772000000, Status: "Not Engaged", UpdatedAt: 1773500001},
			"6a3": {},
		},
		Frozen: []Frozen{
			{
				Month:    engagement.Month{Year: 2026, Month: time.September},
				FrozenAt: time.Date(2026, 10, 8, 3, 0, 0, 0, time.UTC),
				Records: []engagement.BillingRecord{
					{ContactID: "6a1", Name: "Ann Example", Email: "ann@example.com", Employer: "Acme", ExternalID: "P1",
						Registration: 20454, LastCall: 20700, HasLastCall: true, Engaged: true, Qualifying: "100000001"},
					{ContactID: "6a2", Name: "Bo", Employer: "Acme", Registration: 20697, New: true},
				},
			},
			{
				Month:    engagement.Month{Year: 2026, Month: time.October},
				FrozenAt: time.Date(2026, 11, 8, 3, 0, 0, 0, time.UTC),
				Records: []engagement.BillingRecord{
					{ContactID: "6a1", Name: "Ann Example", Email: "ann@example.com", Employer: "Acme", ExternalID: "P1",
						Registration: 20454, LastCall: 20740, HasLastCall: true, Engaged: true, Qualifying: "100000042"},
					{ContactID: "6a2", Name: "Bo", Employer: "Acme", Registration: 20697, LastCall: 20731, HasLastCall: true, Engaged: true, Qualifying: "100000040"},
					{ContactID: "6a4", Name: "Cy Zed", Email: "cy@example.org", Employer: "Beta Co", ExternalID: "P4", Registration: 20740, New: true},
				},
			},
		},
	}
	if err := Save("testdata", f); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(Path("testdata"), "testdata/v1.state"); err != nil {
		t.Fatal(err)
	}
}
