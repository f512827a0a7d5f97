// Package state keeps what the exporter needs across restarts in one file
// in STATE_DIR: the data the reports are built from (so that a restart
// serves the last reports at once and reads Intercom incrementally), the
// engagement sync's overlay of written values, and the frozen billing
// months (docs/reports.md).
//
// The file is versioned and checksummed, written atomically (a temporary
// file in the same folder, fsync, rename, fsync of the folder) with mode
// 0600 in a 0700 folder, so a reader never sees a partial file. A missing,
// old-format or damaged file is reported as such (ErrNoState, ErrVersion,
// ErrCorrupt): the caller reads Intercom in full and carries on.
package state

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// FileName is the state file's name in STATE_DIR.
const FileName = "intercom_exporter.state"

// Version is the format written. A file of another version is not read
// (ErrVersion): the exporter reads Intercom in full and writes this one.
const Version = 1

// magic starts every state file.
var magic = [8]byte{'I', 'X', 'S', 'T', 'A', 'T', 'E', 0}

// headerLen is magic, version (uint32) and payload length (uint64); the
// payload is followed by its CRC-32C (uint32).
const headerLen = 8 + 4 + 8

// Errors Load returns (wrapped; test with errors.Is).
var (
	ErrNoState = errors.New("no saved state")
	ErrVersion = errors.New("saved state has another format version")
	ErrCorrupt = errors.New("saved state is damaged")
)

// File is the whole saved state.
type File struct {
	// SavedAt is when the file was written.
	SavedAt time.Time
	// Identity names the workspace the state belongs to (the API base
	// URL): state of another workspace is not used.
	Identity string
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

// Path is the state file's path in dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// tmpPrefix names the temporary files of Save.
const tmpPrefix = "." + FileName + ".tmp-"

// beforeRename, when set (tests), is called with the complete temporary
// file before it is renamed; an error stops the save there.
var beforeRename func(tmp string) error

// Save writes f to dir atomically: a temporary file (mode 0600) in dir,
// written, flushed to disk, then renamed over the state file, and dir
// flushed. dir is made mode 0700 (created if needed). On any error the
// previous file, if any, is left as it was and the temporary file removed.
func Save(dir string, f *File) (err error) {
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
	payload := encodeFile(f)
	w := bufio.NewWriterSize(tmp, 1<<20)
	var hdr [headerLen]byte
	copy(hdr[:8], magic[:])
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	binary.LittleEndian.PutUint64(hdr[12:], uint64(len(payload)))
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc32Checksum(payload))
	for _, b := range [][]byte{hdr[:], payload, sum[:]} {
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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Load reads the state file in dir. It returns an error wrapping
// ErrNoState when there is none, ErrVersion when it has another format
// version, and ErrCorrupt when it is damaged (truncated, checksum, bad
// encoding).
func Load(dir string) (*File, error) {
	b, err := os.ReadFile(Path(dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w in %s", ErrNoState, dir)
	case err != nil:
		return nil, fmt.Errorf("reading state: %w", err)
	}
	if len(b) < headerLen+4 || [8]byte(b[:8]) != magic {
		return nil, fmt.Errorf("%w: %s is not a state file of this exporter", ErrCorrupt, Path(dir))
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return nil, fmt.Errorf("%w: %s is version %d, this exporter reads version %d", ErrVersion, Path(dir), v, Version)
	}
	n := binary.LittleEndian.Uint64(b[12:])
	if n != uint64(len(b)-headerLen-4) {
		return nil, fmt.Errorf("%w: %s is %d bytes, its header says %d (cut short?)", ErrCorrupt, Path(dir), len(b), n+headerLen+4)
	}
	payload := b[headerLen : headerLen+int(n)]
	if crc32Checksum(payload) != binary.LittleEndian.Uint32(b[headerLen+int(n):]) {
		return nil, fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, Path(dir))
	}
	f, err := decodeFile(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, Path(dir), err)
	}
	return f, nil
}

func encodeFile(f *File) []byte {
	var w writer
	w.buf = make([]byte, 0, len(f.Data)+64<<10)
	w.time(f.SavedAt)
	w.str(f.Identity)
	w.bytes(f.Data)
	w.uvarint(uint64(len(f.Written)))
	for _, id := range sortedKeys(f.Written) {
		x := f.Written[id]
		w.str(id)
		w.varint(x.LastCall)
		w.str(x.Status)
		w.varint(x.UpdatedAt)
	}
	w.uvarint(uint64(len(f.Frozen)))
	for _, fr := range f.Frozen {
		w.varint(int64(fr.Month.Year))
		w.uvarint(uint64(fr.Month.Month))
		w.time(fr.FrozenAt)
		w.uvarint(uint64(len(fr.Records)))
		for i := range fr.Records {
			r := &fr.Records[i]
			w.str(r.ContactID)
			w.str(r.Name)
			w.str(r.Email)
			w.str(r.Employer)
			w.str(r.ExternalID)
			w.varint(int64(r.Registration))
			w.varint(int64(r.LastCall))
			w.flags(r.HasLastCall, r.New, r.Engaged)
			w.str(r.Qualifying)
		}
	}
	encodeFrozenExceptions(&w, f.Frozen)
	return w.buf
}

// encodeFrozenExceptions writes the billing exceptions of the frozen months
// after everything else, so that a file saved before they were kept reads
// as before (decodeFrozenExceptions).
func encodeFrozenExceptions(w *writer, frozen []Frozen) {
	n := 0
	for _, fr := range frozen {
		if fr.HasExceptions {
			n++
		}
	}
	w.uvarint(uint64(n))
	for _, fr := range frozen {
		if !fr.HasExceptions {
			continue
		}
		w.varint(int64(fr.Month.Year))
		w.uvarint(uint64(fr.Month.Month))
		w.uvarint(uint64(len(fr.Exceptions)))
		for i := range fr.Exceptions {
			x := &fr.Exceptions[i]
			w.str(x.ContactID)
			w.str(x.Name)
			w.str(x.Email)
			w.str(x.Employer)
			w.str(x.Coach)
			w.str(x.RegistrationValue)
			w.varint(int64(x.LastCall))
			w.str(x.Reason)
			w.str(x.Qualifying)
		}
	}
}

// decodeFrozenExceptions reads what encodeFrozenExceptions wrote, when the
// file has it, into the frozen months it belongs to.
func decodeFrozenExceptions(r *reader, f *File) {
	if r.err != nil || r.off == len(r.buf) {
		return
	}
	n := r.count(3)
	for range n {
		mo := engagement.Month{Year: int(r.varint()), Month: time.Month(r.uvarint())}
		k := r.count(9)
		xs := make([]engagement.BillingException, k)
		for i := range xs {
			x := &xs[i]
			x.ContactID, x.Name, x.Email, x.Employer, x.Coach, x.RegistrationValue = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
			x.LastCall = engagement.Day(r.varint())
			x.Reason, x.Qualifying = r.str(), r.str()
		}
		for i := range f.Frozen {
			if f.Frozen[i].Month == mo {
				f.Frozen[i].Exceptions, f.Frozen[i].HasExceptions = xs, true
			}
		}
	}
}

func decodeFile(b []byte) (*File, error) {
	r := reader{buf: b}
	f := &File{SavedAt: r.time(), Identity: r.str()}
	if data := r.bytes(); len(data) > 0 {
		f.Data = data
	}
	n := r.count(4)
	f.Written = make(map[string]engagement.Written, n)
	for range n {
		id := r.str()
		f.Written[id] = engagement.Written{LastCall: r.varint(), Status: r.str(), UpdatedAt: r.varint()}
	}
	n = r.count(16)
	for range n {
		fr := Frozen{Month: engagement.Month{Year: int(r.varint()), Month: time.Month(r.uvarint())}, FrozenAt: r.time()}
		k := r.count(8)
		fr.Records = make([]engagement.BillingRecord, k)
		for i := range fr.Records {
			rec := &fr.Records[i]
			rec.ContactID, rec.Name, rec.Email, rec.Employer, rec.ExternalID = r.str(), r.str(), r.str(), r.str(), r.str()
			rec.Registration, rec.LastCall = engagement.Day(r.varint()), engagement.Day(r.varint())
			fl := r.byte()
			rec.HasLastCall, rec.New, rec.Engaged = fl&1 != 0, fl&2 != 0, fl&4 != 0
			rec.Qualifying = r.str()
		}
		f.Frozen = append(f.Frozen, fr)
	}
	decodeFrozenExceptions(&r, f)
	if r.err == nil && len(r.buf) != r.off {
		r.fail("%d bytes left over", len(r.buf)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// ---- encoding primitives ----

type writer struct{ buf []byte }

func (w *writer) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *writer) varint(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }
func (w *writer) byte(b byte)      { w.buf = append(w.buf, b) }
func (w *writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}
func (w *writer) bytes(b []byte) {
	w.uvarint(uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// time writes UNIX nanoseconds, 0 for the zero time.
func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.varint(0)
		return
	}
	w.varint(t.UnixNano())
}

func (w *writer) flags(bits ...bool) {
	var b byte
	for i, v := range bits {
		if v {
			b |= 1 << i
		}
	}
	w.byte(b)
}

// reader decodes what writer wrote; the first problem sticks in err and
// every later read returns zero values.
type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: "+format, append([]any{r.off}, args...)...)
	}
	r.off = len(r.buf)
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.buf) {
		r.fail("cut short")
		return 0
	}
	b := r.buf[r.off]
	r.off++
	return b
}

// count reads a length and checks it against what is left, at least
// minSize bytes an item, so a damaged length never makes a huge allocation.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.buf)-r.off)/uint64(max(1, minSize))+1 {
		r.fail("a count of %d does not fit in what is left", n)
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)-r.off) {
		r.fail("cut short")
		return nil
	}
	b := r.buf[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) time() time.Time {
	v := r.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

// sortedKeys lists a map's keys in order, so that a file is the same for
// the same state.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
