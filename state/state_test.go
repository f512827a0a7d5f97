package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
		SavedAt:          time.Unix(1773576000, 123),
		Identity:         "https://api.intercom.io",
		WorkspaceID:      "abc123",
		TokenFingerprint: TokenFingerprint("tok"),
		Data:             EncodeSnapshot(sample()),
		Written:          map[string]engagement.Written{"6a1": {LastCall: 1773000000, Status: "Engaged", UpdatedAt: 1773500000}, "6a2": {}},
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
			// Frozen before exceptions were kept, with no member (nil:
			// the encoding does not tell an empty list from none).
			Month: engagement.Month{Year: 2026, Month: time.March}, FrozenAt: time.Unix(1775600000, 0),
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

// A file that cannot be read is moved aside under a name that says why,
// with its bytes as they were, and never overwritten by the next save.
func TestLoad_UnreadableFileIsMovedAsideNeverOverwritten(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoState) || errors.Is(err, ErrSetAside) {
		t.Errorf("no file: %v, want ErrNoState only", err)
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Date(2026, 12, 2, 1, 2, 3, 0, time.FixedZone("CET", 3600)) }

	src := t.TempDir()
	if err := Save(src, &File{Identity: "x", Data: EncodeSnapshot(sample()), Frozen: []Frozen{{Month: engagement.Month{Year: 2026, Month: 10}}}}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(Path(src))
	patch := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }

	for _, tc := range []struct {
		name   string
		file   []byte
		want   error
		suffix string
	}{
		{"a newer version", patch(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], Version+1); return b }),
			ErrVersion, ".unsupported-version-20261202T000203Z"},
		{"version 0", patch(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 0); return b }),
			ErrVersion, ".unsupported-version-20261202T000203Z"},
		{"a byte changed", patch(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"cut short", good[:len(good)-100], ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"empty", []byte{}, ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"not a state file", []byte("intercom_up 1\n"), ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"checksum matches bad gob", withGoodChecksum(Version, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"checksum matches bad version 1", withGoodChecksum(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), ErrCorrupt, ".corrupt-20261202T000203Z"},
		{"a version-2 payload under version 1", patch(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 1); return b }), ErrCorrupt, ".corrupt-20261202T000203Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(Path(dir), tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Load(dir)
			if f != nil || !errors.Is(err, tc.want) || !errors.Is(err, ErrSetAside) || errors.Is(err, ErrNoState) {
				t.Fatalf("Load: %v, %v; want %v and ErrSetAside", f, err, tc.want)
			}
			var sa *SetAsideError
			if !errors.As(err, &sa) || sa.Path != Path(dir)+tc.suffix {
				t.Fatalf("moved to %+v, want %s", sa, Path(dir)+tc.suffix)
			}
			if !strings.Contains(err.Error(), sa.Path) {
				t.Errorf("the error %q does not say where the file is", err)
			}
			if b, err := os.ReadFile(sa.Path); err != nil || !bytes.Equal(b, tc.file) {
				t.Errorf("moved file: %v, bytes equal %v", err, bytes.Equal(b, tc.file))
			}
			if _, err := os.Stat(Path(dir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the state file is still there: %v", err)
			}
			// The next save writes a new file and leaves the moved one.
			if err := Save(dir, &File{Identity: "y"}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(sa.Path); !bytes.Equal(b, tc.file) {
				t.Error("the next save changed the moved-aside file")
			}
			if got, _ := SetAsideFiles(dir); !slices.Equal(got, []string{sa.Path}) {
				t.Errorf("SetAsideFiles %v, want [%s]", got, sa.Path)
			}
		})
	}
}

// Moving aside twice in the same second keeps both files; the caller's own
// reason (another workspace) names the file too, and SetAsideFiles lists
// the moved files only.
func TestSetAside_NamesAndListing(t *testing.T) {
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Date(2026, 12, 31, 23, 59, 59, 999, time.UTC) }
	dir := t.TempDir()
	cause := fmt.Errorf("%w: api base differs", ErrOtherWorkspace)
	var paths []string
	for i := range 3 {
		if err := os.WriteFile(Path(dir), []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		err := SetAside(dir, ReasonOtherWorkspace, cause)
		var sa *SetAsideError
		if !errors.As(err, &sa) || !errors.Is(err, ErrOtherWorkspace) || !errors.Is(err, ErrSetAside) || sa.Reason != ReasonOtherWorkspace {
			t.Fatalf("SetAside: %v", err)
		}
		paths = append(paths, sa.Path)
	}
	base := Path(dir) + ".other-workspace-20261231T235959Z"
	if want := []string{base, base + "-2", base + "-3"}; !slices.Equal(paths, want) {
		t.Errorf("names %v, want %v", paths, want)
	}
	for i, p := range paths {
		if b, _ := os.ReadFile(p); !bytes.Equal(b, []byte{byte(i)}) {
			t.Errorf("%s holds %v, want [%d]", p, b, i)
		}
	}
	// Not moved-aside files: the state file, a temporary file, an
	// operator's copy.
	for _, name := range []string{FileName, tmpPrefix + "123", FileName + ".bak", FileName + ".corrupt-yesterday"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SetAsideFiles(dir)
	if err != nil || !slices.Equal(got, paths) {
		t.Errorf("SetAsideFiles: %v, %v; want %v", got, err, paths)
	}
	if got, err := SetAsideFiles(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("no folder: %v, %v", got, err)
	}
	// Nothing to move: an error that is not ErrSetAside.
	if err := SetAside(t.TempDir(), ReasonCorrupt, ErrCorrupt); err == nil || errors.Is(err, ErrSetAside) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("moving a missing file: %v", err)
	}
}

// The fingerprint is the first 8 bytes of SHA-256 over the fixed prefix
// and the token (worked out with sha256sum), and never contains the token.
func TestTokenFingerprint(t *testing.T) {
	for token, want := range map[string]string{
		"dG9rOmV4YW1wbGU=": "sha256:7a30ebd5e2ed986a",
		"dG9rOmV4YW1wbGF=": "sha256:ccdc6485a900c8b8",
		"":                 "sha256:99560c66fb25acd6",
	} {
		got := TokenFingerprint(token)
		if got != want {
			t.Errorf("TokenFingerprint(%q) = %s, want %s", token, got, want)
		}
		if token != "" && strings.Contains(got, token) {
			t.Errorf("fingerprint %s contains the token", got)
		}
	}
}

// withGoodChecksum is a file of version v whose checksum is right for
// payload.
func withGoodChecksum(v uint32, payload []byte) []byte {
	b := append([]byte(nil), magic[:]...)
	b = binary.LittleEndian.AppendUint32(b, v)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32Checksum(payload))
}
