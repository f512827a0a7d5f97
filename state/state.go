// Package state keeps what the exporter needs across restarts in one file
// in STATE_DIR: the frozen billing months (docs/reports.md), the
// engagement sync's overlay of written values, and the data the reports
// are built from (so that a restart serves the last reports at once and
// reads Intercom incrementally). docs/state.md describes the file for
// operators.
//
// The file is versioned and checksummed, written atomically (a temporary
// file in the same folder, fsync, rename, fsync of the folder) with mode
// 0600 in a 0700 folder, so a reader never sees a partial file.
//
// Frozen months are money: a file is never overwritten because it cannot
// be read. Load migrates a file of an older version; a damaged file or one
// of a newer version is moved aside under a name that says why
// (SetAsideError), and a file of another workspace is moved aside by the
// caller (SetAside). While a moved-aside file is in the folder
// (SetAsideFiles) the caller must not freeze months from live data: the
// frozen ones are in that file.
package state

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// FileName is the state file's name in STATE_DIR.
const FileName = "intercom_exporter.state"

// Version is the format written; Load also reads version 1 (migrated).
//
// Version 2 is a gob encoding of File (Data, already encoded, follows it
// as it is). Gob is the standard library's typed
// encoder: it writes every exported field of File and of the types in it
// by name, so a field added to a saved type (a frozen billing record, say)
// is saved and restored without code here, a field a file does not have is
// left zero, and a field a reader does not know is skipped. Later changes
// are therefore additions that keep this version. A change that cannot be
// an addition (renaming a field, changing its type or meaning) must bump
// Version and keep a reader for this one, as for version 1 (v1.go). The
// bulky report data keeps its compact encoding (Data, snapshot.go), which
// restarts at scale need; a test fails when a field of it is not restored.
const Version = 2

// magic starts every state file, of any version.
var magic = [8]byte{'I', 'X', 'S', 'T', 'A', 'T', 'E', 0}

// headerLen is magic, version (uint32) and payload length (uint64); the
// payload is followed by its CRC-32C (uint32). Every version has it.
const headerLen = 8 + 4 + 8

// Errors Load and SetAside return (wrapped; test with errors.Is).
var (
	// ErrNoState: there is no state file; starting afresh is right.
	ErrNoState = errors.New("no saved state")
	// ErrVersion: the file has a format version this exporter cannot read
	// (written by a newer one).
	ErrVersion = errors.New("saved state has another format version")
	// ErrCorrupt: the file is damaged or not a state file.
	ErrCorrupt = errors.New("saved state is damaged")
	// ErrOtherWorkspace: the file belongs to another Intercom workspace.
	ErrOtherWorkspace = errors.New("saved state belongs to another Intercom workspace")
	// ErrSetAside: the file could not be used and was moved aside
	// (SetAsideError says where); nothing was lost.
	ErrSetAside = errors.New("saved state was moved aside")
)

// File is the whole saved state. Every field is saved (a test checks it).
type File struct {
	// SavedAt is when the file was written.
	SavedAt time.Time
	// Identity names the workspace the state belongs to by API base URL
	// (INTERCOM_API_BASE): state of another workspace is not used.
	Identity string
	// WorkspaceID is the Intercom workspace (app) id that GET /me returned
	// when the data was read, "" when not known (a migrated file).
	WorkspaceID string
	// TokenFingerprint identifies the access token the state was read
	// with (TokenFingerprint; never the token itself), "" when not known.
	TokenFingerprint string
	// Data is an encoded Snapshot (EncodeSnapshot), nil when none. It is
	// kept encoded so that saving after a sync run does not encode the
	// data again.
	Data []byte
	// Written is the engagement sync's overlay (engagement.Runner.Written).
	Written map[string]engagement.Written
	// Frozen are the frozen billing months, oldest first.
	Frozen []Frozen
}

// Frozen is one frozen billing month (docs/reports.md): its first computation
// once BILLING_FREEZE_DAYS had passed after the month's end.
type Frozen struct {
	Month    engagement.Month
	FrozenAt time.Time
	Records  []engagement.BillingRecord
	// Exceptions are the month's billing exceptions, frozen with the
	// cohort; HasExceptions is false for a month frozen before exceptions
	// were kept.
	Exceptions    []engagement.BillingException
	HasExceptions bool
}

// tokenFingerprintPrefix is hashed before the token, so that the
// fingerprint is of this use only, and starts the fingerprint, so that it
// is recognisable (and never mistaken for a token).
const tokenFingerprintPrefix = "intercom_exporter-token-v1:"

// TokenFingerprint identifies an access token without revealing it: the
// first 8 bytes of SHA-256("intercom_exporter-token-v1:" + token), in
// hexadecimal, after "sha256:". Equal tokens give equal fingerprints;
// the token cannot be recovered from it.
func TokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(tokenFingerprintPrefix + token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// Path is the state file's path in dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// tmpPrefix names the temporary files of Save.
const tmpPrefix = "." + FileName + ".tmp-"

// beforeRename, when set (tests), is called with the complete temporary
// file before it is renamed; an error stops the save there.
var beforeRename func(tmp string) error

// now is the clock of the moved-aside files' names (tests change it).
var now = time.Now

// Save writes f to dir atomically: a temporary file (mode 0600) in dir,
// written, flushed to disk, then renamed over the state file, and dir
// flushed. dir is made mode 0700 (created if needed). On any error the
// previous file, if any, is left as it was and the temporary file removed.
func Save(dir string, f *File) (err error) {
	parts, err := encode(f)
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		// Member data: the folder is the exporter's alone. A folder we may
		// not change (a mounted volume) is left as it is.
		_ = os.Chmod(dir, 0o700)
	}
	// Leftovers of a save interrupted by a crash.
	if old, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*")); len(old) > 0 {
		for _, p := range old {
			_ = os.Remove(p)
		}
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("saving state to %s: %w", Path(dir), err)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	var hdr [headerLen]byte
	copy(hdr[:8], magic[:])
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	var n int
	var crc uint32
	for _, p := range parts {
		n += len(p)
		crc = crc32.Update(crc, castagnoli, p)
	}
	binary.LittleEndian.PutUint64(hdr[12:], uint64(n))
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc)
	for _, b := range slices.Concat([][]byte{hdr[:]}, parts, [][]byte{sum[:]}) {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err := beforeRename(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), Path(dir)); err != nil {
		return err
	}
	// The rename is durable once the folder is.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// encode is the current version's payload, in parts: the length of the
// gob encoding of File without Data (uvarint), that encoding, and Data as
// it is (no copy of the bulk on save or load).
func encode(f *File) ([][]byte, error) {
	g := *f
	g.Data = nil
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&g); err != nil {
		return nil, err
	}
	return [][]byte{binary.AppendUvarint(nil, uint64(buf.Len())), buf.Bytes(), f.Data}, nil
}

func decode(payload []byte) (*File, error) {
	n, k := binary.Uvarint(payload)
	if k <= 0 || n > uint64(len(payload)-k) {
		return nil, errors.New("bad length of the typed part")
	}
	f := new(File)
	if err := gob.NewDecoder(bytes.NewReader(payload[k : k+int(n)])).Decode(f); err != nil {
		return nil, err
	}
	f.Data = nil
	if data := payload[k+int(n):]; len(data) > 0 {
		f.Data = data
	}
	return f, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Load reads the state file in dir, migrating a version-1 file (a copy of
// which it keeps beside it, named ".version-1-<UTC time>", for a rollback).
// It returns an error wrapping:
//   - ErrNoState when there is none: start afresh;
//   - ErrCorrupt (damaged: truncated, checksum, bad encoding) or
//     ErrVersion (a version this exporter does not read), together with
//     ErrSetAside, once the file has been moved aside (a *SetAsideError
//     says where): the caller starts without it and must not freeze months
//     from live data (docs/state.md);
//   - anything else (a file it may not read, or one that could not be
//     moved aside; ErrCorrupt or ErrVersion then, without ErrSetAside):
//     the file is still in place, and the caller must neither freeze
//     months nor save over it.
func Load(dir string) (*File, error) {
	b, err := os.ReadFile(Path(dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w in %s", ErrNoState, dir)
	case err != nil:
		return nil, fmt.Errorf("reading state: %w", err)
	}
	f, reason, err := parse(b)
	if err != nil {
		return nil, SetAside(dir, reason, fmt.Errorf("%s: %w", Path(dir), err))
	}
	if binary.LittleEndian.Uint32(b[8:]) == version1 {
		// The next save replaces it with a file an exporter that writes
		// version 1 cannot read: keep it for a rollback.
		keepCopy(Path(dir)+".version-1-"+now().UTC().Format("20060102T150405Z"), b)
	}
	return f, nil
}

// keepCopy writes b to a new file at path (0600), never over one; a
// failure only means there is no copy.
func keepCopy(path string, b []byte) {
	c, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return
	}
	_, err = c.Write(b)
	if err == nil {
		err = c.Sync()
	}
	if cerr := c.Close(); err != nil || cerr != nil {
		_ = os.Remove(path)
	}
}

// parse decodes a whole state file; on failure it says why (the reason
// for moving it aside) with an error wrapping ErrCorrupt or ErrVersion.
func parse(b []byte) (*File, Reason, error) {
	if len(b) < headerLen+4 || [8]byte(b[:8]) != magic {
		return nil, ReasonCorrupt, fmt.Errorf("%w: not a state file of this exporter", ErrCorrupt)
	}
	v := binary.LittleEndian.Uint32(b[8:])
	if v != version1 && v != Version {
		return nil, ReasonUnsupportedVersion, fmt.Errorf("%w: version %d, this exporter reads versions %d and %d", ErrVersion, v, version1, Version)
	}
	n := binary.LittleEndian.Uint64(b[12:])
	if n != uint64(len(b)-headerLen-4) {
		return nil, ReasonCorrupt, fmt.Errorf("%w: %d bytes, its header says %d (cut short?)", ErrCorrupt, len(b), n+headerLen+4)
	}
	payload := b[headerLen : headerLen+int(n)]
	if crc32Checksum(payload) != binary.LittleEndian.Uint32(b[headerLen+int(n):]) {
		return nil, ReasonCorrupt, fmt.Errorf("%w: fails its checksum", ErrCorrupt)
	}
	var f *File
	var err error
	if v == version1 {
		f, err = decodeV1(payload)
	} else {
		f, err = decode(payload)
	}
	if err != nil {
		return nil, ReasonCorrupt, fmt.Errorf("%w: version %d: %v", ErrCorrupt, v, err)
	}
	return f, "", nil
}

// Reason says why a state file was moved aside; it is part of the moved
// file's name.
type Reason string

// The reasons for moving a state file aside.
const (
	ReasonCorrupt            Reason = "corrupt"
	ReasonUnsupportedVersion Reason = "unsupported-version"
	ReasonOtherWorkspace     Reason = "other-workspace"
)

// SetAsideError is a state file that could not be used and was moved
// aside: Path is where it is now, Err why. It wraps ErrSetAside and Err.
type SetAsideError struct {
	Reason Reason
	Path   string
	Err    error
}

func (e *SetAsideError) Error() string {
	return fmt.Sprintf("%v; moved aside to %s, nothing overwritten", e.Err, e.Path)
}

func (e *SetAsideError) Unwrap() []error { return []error{ErrSetAside, e.Err} }

// SetAside moves the state file in dir aside, to its name followed by
// ".<reason>-<UTC time>" (a "-2", "-3"… after it if that name is taken),
// and returns a *SetAsideError wrapping cause. If the file cannot be moved
// it returns an error wrapping cause but not ErrSetAside: the file is then
// still in place and must not be saved over.
func SetAside(dir string, reason Reason, cause error) error {
	base := Path(dir) + "." + string(reason) + "-" + now().UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return fmt.Errorf("%w; moving it aside failed: %v", cause, err)
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(Path(dir), to); err != nil {
		return fmt.Errorf("%w; moving it aside failed: %v", cause, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return &SetAsideError{Reason: reason, Path: to, Err: cause}
}

// asideName matches the names SetAside gives.
var asideName = regexp.MustCompile(`^` + regexp.QuoteMeta(FileName) + `\.(corrupt|unsupported-version|other-workspace)-\d{8}T\d{6}Z(-\d+)?$`)

// SetAsideFiles lists the moved-aside state files in dir, by name. While
// there is one, the frozen billing months it holds are not in the state
// file: the caller must not freeze months from live data until an operator
// has dealt with it (docs/state.md).
func SetAsideFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if asideName.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}
