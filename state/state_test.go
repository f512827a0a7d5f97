package state

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

func stamp(u int64, d engagement.Day) *engagement.Stamp { return &engagement.Stamp{Unix: u, Day: d} }

// sample is a snapshot with every kind of value: numeric and other
// conversation ids, contacts with and without stamps, an unread contact,
// repeated strings (interned), empty ones, sessions listing several
// contacts and none.
func sample() *Snapshot {
	t := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	return &Snapshot{
		Settings: "TIMEZONE=UTC\nLOOKBACK_DAYS=365",
		Now:      t, ReadAt: t.Add(-time.Minute), FullAt: t.Add(-time.Hour), RefreshEnd: t.Add(time.Second),
		WorkspaceID: "abc123", WorkspaceTimezone: "America/Chicago",
		AttrTypesKnown: true, AttrTypes: [][2]string{{"Employer", "string"}, {"Registration Date", "date"}},
		AdminsKnown: true, Admins: []engagement.Admin{{ID: "101", Name: "Alice Coach"}, {ID: "102", Name: "Bob"}},
		Contacts: []engagement.Contact{
			{ID: "6a1", ExternalID: "P1", Name: "Ann Example", Email: "ann@example.com", OwnerID: "101",
				Employer: " Acme ", Registration: stamp(1767225600, 20454), StoredLastCall: stamp(1773000000, 20520),
				StoredStatus: "Engaged", UpdatedAt: 1773500000},
			{ID: "6a2", Name: "Bo", Employer: " Acme ", StoredStatus: "Engaged", UpdatedAt: 1773500001, RegistrationRaw: `"early January"`},
			{ID: "ghost", Unread: true},
		},
		ContactMeta: []ContactMeta{{Attr: true, Invalid: 0}, {Attr: false, Invalid: 5}, {}},
		Sessions: []engagement.Conversation{
			{ID: "100000001", CreatedAt: 1773000000, State: "closed", Channel: "Phone", AdminID: "101", ContactIdx: []int32{0, 2}},
			{ID: "conv-x", CreatedAt: 1773100000, State: "closed", Channel: "Email", AdminID: "", ContactIdx: nil},
			{ID: "0123", CreatedAt: 1773200000, State: "closed", Channel: "Phone", AdminID: "101", ContactIdx: []int32{1}},
		},
		SessionUpdated: []int64{1773003600, 1773100000, 1773100000 + 5},
		Others:         []Other{{ID: "100000009", UpdatedAt: 1773300000, CreatedAt: 1773200000}, {ID: "x-9", UpdatedAt: 1773300001}},
	}
}

func TestSnapshot_RoundTrip(t *testing.T) {
	want := sample()
	got, err := DecodeSnapshot(EncodeSnapshot(want))
	if err != nil {
		t.Fatal(err)
	}
	// The zero times come back as zero, the others as the same instant.
	for _, p := range [][2]*time.Time{{&got.Now, &want.Now}, {&got.ReadAt, &want.ReadAt}, {&got.FullAt, &want.FullAt}, {&got.RefreshEnd, &want.RefreshEnd}} {
		if !p[0].Equal(*p[1]) {
			t.Errorf("time %v, want %v", *p[0], *p[1])
		}
		*p[0] = *p[1]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestSave_RoundTripWithModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &File{
		SavedAt:  time.Unix(1773576000, 123),
		Identity: "https://api.intercom.io",
		Data:     EncodeSnapshot(sample()),
		Written:  map[string]engagement.Written{"6a1": {LastCall: 1773000000, Status: "Engaged", UpdatedAt: 1773500000}, "6a2": {}},
		Frozen: []Frozen{{
			Month: engagement.Month{Year: 2026, Month: time.February}, FrozenAt: time.Unix(1773000000, 0),
			Records: []engagement.BillingRecord{
				{ContactID: "6a1", Name: "Ann", Email: "ann@example.com", Employer: "Acme", ExternalID: "P1",
					Registration: 20454, LastCall: 20480, HasLastCall: true, Engaged: true, Qualifying: "100000001"},
				{ContactID: "6a2", Registration: 20490, New: true},
			},
			Exceptions: []engagement.BillingException{
				{ContactID: "6a3", Name: "Cy", Email: "cy@example.com", Employer: "Acme", Coach: "Alice Coach",
					RegistrationValue: "early January", LastCall: 20480, Reason: engagement.ExceptionInvalidRegistration, Qualifying: "100000002"},
			},
			HasExceptions: true,
		}, {
			// Frozen before exceptions were kept.
			Month: engagement.Month{Year: 2026, Month: time.March}, FrozenAt: time.Unix(1775600000, 0),
			Records: []engagement.BillingRecord{},
		}},
	}
	if err := Save(dir, f); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.SavedAt.Equal(f.SavedAt) {
		t.Errorf("saved at %v, want %v", got.SavedAt, f.SavedAt)
	}
	got.SavedAt = f.SavedAt
	got.Frozen[0].FrozenAt = f.Frozen[0].FrozenAt // compared above by instant
	got.Frozen[1].FrozenAt = f.Frozen[1].FrozenAt
	if !reflect.DeepEqual(got, f) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
	}

	st, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Errorf("file mode %v, want 0600", m)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", st.Mode().Perm())
	}
	// A folder that does not exist yet is created 0700.
	fresh := filepath.Join(t.TempDir(), "a", "b")
	if err := Save(fresh, &File{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o700 {
		t.Errorf("new folder mode %v, want 0700", st.Mode().Perm())
	}
}

// The state file is replaced in one step: while a save is under way the
// old file is whole and the new one is not visible under the file's name;
// a save that fails leaves the old file and no temporary file.
func TestSave_IsAtomic(t *testing.T) {
	dir := t.TempDir()
	old := &File{Identity: "old", Data: []byte("old data")}
	if err := Save(dir, old); err != nil {
		t.Fatal(err)
	}
	oldBytes, _ := os.ReadFile(Path(dir))

	defer func() { beforeRename = nil }()
	var tmpSeen string
	beforeRename = func(tmp string) error {
		tmpSeen = tmp
		if filepath.Dir(tmp) != dir || !strings.HasPrefix(filepath.Base(tmp), ".") {
			t.Errorf("temporary file %s is not a hidden file in the state folder", tmp)
		}
		if b, _ := os.ReadFile(Path(dir)); string(b) != string(oldBytes) {
			t.Error("the state file changed before the rename")
		}
		if st, err := os.Stat(tmp); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("temporary file: %v, mode %v", err, st.Mode().Perm())
		}
		return nil
	}
	if err := Save(dir, &File{Identity: "new", Data: make([]byte, 1<<20)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmpSeen); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file still there after the save: %v", err)
	}
	if f, err := Load(dir); err != nil || f.Identity != "new" {
		t.Fatalf("after the save: %v, %+v", err, f)
	}

	// A save that fails before the rename: the previous file stays.
	before, _ := os.ReadFile(Path(dir))
	beforeRename = func(string) error { return errors.New("disk full") }
	if err := Save(dir, &File{Identity: "lost"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("save error %v, want the failure", err)
	}
	if after, _ := os.ReadFile(Path(dir)); string(after) != string(before) {
		t.Error("a failed save changed the state file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the folder: %v", entries)
	}
}

func TestLoad_MissingOldVersionOrDamagedFileIsReported(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoState) {
		t.Errorf("no file: %v, want ErrNoState", err)
	}

	dir := t.TempDir()
	if err := Save(dir, &File{Identity: "x", Data: EncodeSnapshot(sample())}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(Path(dir))
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(Path(dir), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	patch := func(fn func(b []byte) []byte) []byte {
		return fn(append([]byte(nil), good...))
	}

	write(patch(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], Version+1); return b }))
	if _, err := Load(dir); !errors.Is(err, ErrVersion) {
		t.Errorf("another version: %v, want ErrVersion", err)
	}
	for name, b := range map[string][]byte{
		"a byte changed":       patch(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }),
		"cut short":            good[:len(good)-100],
		"empty":                {},
		"not a state file":     []byte("intercom_up 1\n"),
		"checksum matches bad": badPayloadWithGoodChecksum(),
	} {
		write(b)
		if _, err := Load(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// A damaged snapshot inside a sound file.
	if _, err := DecodeSnapshot(EncodeSnapshot(sample())[:50]); err == nil {
		t.Error("a cut snapshot decodes")
	}
}

// badPayloadWithGoodChecksum is a file whose checksum is right but whose
// content is not an encoding of a File.
func badPayloadWithGoodChecksum() []byte {
	payload := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	b := append([]byte(nil), magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32Checksum(payload))
}

// A file saved before billing exceptions were kept ends after the frozen
// cohorts: it reads as before, its months without exceptions.
func TestDecodeFile_WithoutFrozenExceptionsReadsTheCohorts(t *testing.T) {
	f := &File{SavedAt: time.Unix(1773576000, 0), Identity: "x", Frozen: []Frozen{{
		Month: engagement.Month{Year: 2026, Month: time.February}, FrozenAt: time.Unix(1773000000, 0),
		Records: []engagement.BillingRecord{{ContactID: "6a2", Registration: 20490, New: true}},
	}}}
	b := encodeFile(f)
	if b[len(b)-1] != 0 {
		t.Fatalf("the exceptions section of a file without exceptions should be one zero count, ends %v", b[len(b)-4:])
	}
	got, err := decodeFile(b[:len(b)-1])
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Frozen) != 1 || got.Frozen[0].HasExceptions || len(got.Frozen[0].Records) != 1 {
		t.Errorf("frozen %+v", got.Frozen)
	}
}
