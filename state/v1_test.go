package state

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// testdata/v1.state was written by the version-1 encoder (the commit that
// added it has the program): two frozen months, September 2026 (2 members)
// and October 2026 (3 members), a sync overlay of 3 contacts, and the
// report data of sample(). It is read with every frozen month intact, and
// the next save writes the current version with the same content.
func TestLoad_MigratesAVersion1FileWithItsFrozenMonths(t *testing.T) {
	b, err := os.ReadFile("testdata/v1.state")
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 1 {
		t.Fatalf("testdata/v1.state is version %d", v)
	}
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir), b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC) }
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the version-1 file is kept for a rollback, as it was.
	backup := Path(dir) + ".version-1-20261202T010203Z"
	if kept, err := os.ReadFile(backup); err != nil || !bytes.Equal(kept, b) {
		t.Errorf("copy of the version-1 file: %v, same bytes %v", err, bytes.Equal(kept, b))
	}
	if st, err := os.Stat(backup); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("copy mode %v, want 0600", st.Mode().Perm())
	}
	if aside, _ := SetAsideFiles(dir); len(aside) != 0 {
		t.Errorf("the copy counts as set aside: %v", aside)
	}

	utc := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	if !f.SavedAt.Equal(utc(2026, 11, 30, 8)) || f.Identity != "https://api.intercom.io" || f.WorkspaceID != "" || f.TokenFingerprint != "" {
		t.Errorf("header fields: saved %v, identity %q, workspace %q, token %q", f.SavedAt, f.Identity, f.WorkspaceID, f.TokenFingerprint)
	}
	wantWritten := map[string]engagement.Written{
		"6a1": {LastCall: 1773000000, Status: "Engaged", UpdatedAt: 1773500000},
		"6a2": {LastCall: 1772000000, Status: "Not Engaged", UpdatedAt: 1773500001},
		"6a3": {},
	}
	if !reflect.DeepEqual(f.Written, wantWritten) {
		t.Errorf("overlay %+v, want %+v", f.Written, wantWritten)
	}
	// Days: 2026-01-01 is day 20454; 2026-09-01 is 243 days later (20697),
	// 2026-09-04 is 20700, 2026-10-05 is 20731, 2026-10-14 is 20740.
	ann := engagement.BillingRecord{ContactID: "6a1", Name: "Ann Example", Email: "ann@example.com", Employer: "Acme", ExternalID: "P1",
		Registration: 20454, HasLastCall: true, Engaged: true}
	sepAnn, octAnn := ann, ann
	sepAnn.LastCall, sepAnn.Qualifying = 20700, "100000001"
	octAnn.LastCall, octAnn.Qualifying = 20740, "100000042"
	wantFrozen := []Frozen{
		{Month: engagement.Month{Year: 2026, Month: time.September}, FrozenAt: utc(2026, 10, 8, 3), Records: []engagement.BillingRecord{
			sepAnn,
			{ContactID: "6a2", Name: "Bo", Employer: "Acme", Registration: 20697, New: true},
		}},
		{Month: engagement.Month{Year: 2026, Month: time.October}, FrozenAt: utc(2026, 11, 8, 3), Records: []engagement.BillingRecord{
			octAnn,
			{ContactID: "6a2", Name: "Bo", Employer: "Acme", Registration: 20697, LastCall: 20731, HasLastCall: true, Engaged: true, Qualifying: "100000040"},
			{ContactID: "6a4", Name: "Cy Zed", Email: "cy@example.org", Employer: "Beta Co", ExternalID: "P4", Registration: 20740, New: true},
		}},
	}
	if len(f.Frozen) != 2 {
		t.Fatalf("%d frozen months, want 2", len(f.Frozen))
	}
	for i := range f.Frozen {
		if !f.Frozen[i].FrozenAt.Equal(wantFrozen[i].FrozenAt) {
			t.Errorf("month %d frozen at %v, want %v", i, f.Frozen[i].FrozenAt, wantFrozen[i].FrozenAt)
		}
		f.Frozen[i].FrozenAt = wantFrozen[i].FrozenAt
	}
	if !reflect.DeepEqual(f.Frozen, wantFrozen) {
		t.Errorf("frozen months:\n got %+v\nwant %+v", f.Frozen, wantFrozen)
	}
	snap, err := DecodeSnapshot(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Settings != "TIMEZONE=UTC\nLOOKBACK_DAYS=365" || len(snap.Contacts) != 3 || snap.Contacts[0].Name != "Ann Example" ||
		len(snap.Sessions) != 3 || snap.Sessions[1].ID != "conv-x" {
		t.Errorf("report data: %+v", snap)
	}

	// Saved again: the current version, the same content.
	if err := Save(dir, f); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(Path(dir))
	if v := binary.LittleEndian.Uint32(b2[8:]); v != Version {
		t.Errorf("saved as version %d, want %d", v, Version)
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	again.SavedAt = f.SavedAt
	for i := range again.Frozen {
		again.Frozen[i].FrozenAt = f.Frozen[i].FrozenAt
	}
	if !reflect.DeepEqual(again, f) {
		t.Errorf("after a save in version %d:\n got %+v\nwant %+v", Version, again, f)
	}
	// Loading version 2 made no copy.
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); !slices.Equal(left, []string{Path(dir), backup}) {
		t.Errorf("files in the folder: %v", left)
	}
}
