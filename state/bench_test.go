package state

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

// encodeV1 is the version-1 encoder as it was (decoding is in v1.go), to
// compare the versions: the benchmark only.
func encodeV1(f *File) []byte {
	var w writer
	w.buf = make([]byte, 0, len(f.Data)+64<<10)
	w.time(f.SavedAt)
	w.str(f.Identity)
	w.uvarint(uint64(len(f.Data)))
	w.buf = append(w.buf, f.Data...)
	w.uvarint(uint64(len(f.Written)))
	for _, id := range slices.Sorted(maps.Keys(f.Written)) {
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
	return w.buf
}

// bigFile is the state of a 200,000-contact workspace as the file sees
// it: 40 MiB of report data (the size BenchmarkStateAtScale in collector
// measures), a sync overlay of every contact, and 36 frozen months (the
// most kept) of 60,000 members each.
func bigFile() *File {
	f := &File{SavedAt: time.Now(), Identity: "https://api.intercom.io", WorkspaceID: "abc123",
		TokenFingerprint: TokenFingerprint("t"), Data: make([]byte, 40<<20), Written: map[string]engagement.Written{}}
	for i := range f.Data {
		f.Data[i] = byte(i * 7)
	}
	id := func(i int) string { return fmt.Sprintf("6%07x%016x", 0x5eed, i+1) }
	for i := range 200_000 {
		f.Written[id(i)] = engagement.Written{LastCall: 1773000000 + int64(i), Status: "Engaged", UpdatedAt: 1773500000 + int64(i)}
	}
	mo := engagement.Month{Year: 2023, Month: time.March}
	for range 36 {
		fr := Frozen{Month: mo, FrozenAt: time.Date(mo.Year, mo.Month+1, 6, 0, 0, 0, 0, time.UTC)}
		for i := range 60_000 {
			fr.Records = append(fr.Records, engagement.BillingRecord{ContactID: id(i * 3), Name: fmt.Sprintf("First%d Last%d", i%97, i%89),
				Email: fmt.Sprintf("first.last%d@example.com", i*3+1), Employer: fmt.Sprintf("Employer %d Holdings", i%300),
				ExternalID: fmt.Sprintf("P%06d", i*3+1), Registration: engagement.Day(19000 + i%900), LastCall: engagement.Day(19500 + i%400),
				HasLastCall: i%2 == 0, Engaged: i%2 == 0, New: i%5 == 0, Qualifying: fmt.Sprint(100_000_000 + i)})
		}
		f.Frozen = append(f.Frozen, fr)
		mo = mo.Next()
	}
	return f
}

// BenchmarkFileAtScale measures encoding, saving (encoding, writing,
// fsync, rename) and loading bigFile in the current version, and encoding
// and loading it in version 1 (the version before: its save wrote the same
// header, payload and checksum around encodeV1).
//
//	go test -run '^$' -bench FileAtScale -benchtime 3x ./state/
func BenchmarkFileAtScale(b *testing.B) {
	f := bigFile()
	dir, dir1 := b.TempDir(), b.TempDir()
	payload := encodeV1(f)
	v1 := append([]byte(nil), magic[:]...)
	v1 = binary.LittleEndian.AppendUint32(v1, version1)
	v1 = binary.LittleEndian.AppendUint64(v1, uint64(len(payload)))
	v1 = append(v1, payload...)
	v1 = binary.LittleEndian.AppendUint32(v1, crc32Checksum(payload))
	// Wall and CPU time (user and system, all threads: GC included) of
	// each step; CPU time is the steadier figure when other work runs.
	var wall, cpu [5]time.Duration
	step := func(i int, fn func()) {
		runtime.GC() // the garbage of the step before is not this one's
		w0, c0 := time.Now(), cpuTime()
		fn()
		wall[i] += time.Since(w0)
		cpu[i] += cpuTime() - c0
	}
	// Loading version 1 keeps a copy of the file, once: made here, so that
	// v1-load is loading only.
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC) }
	if err := os.WriteFile(Path(dir1)+".version-1-20261202T010203Z", nil, 0o600); err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		step(0, func() {
			if _, err := encode(f); err != nil {
				b.Fatal(err)
			}
		})
		step(1, func() {
			if err := Save(dir, f); err != nil {
				b.Fatal(err)
			}
		})
		step(2, func() {
			if got, err := Load(dir); err != nil || len(got.Frozen) != 36 {
				b.Fatal(err)
			}
		})
		step(3, func() { encodeV1(f) })
		if err := os.WriteFile(Path(dir1), v1, 0o600); err != nil {
			b.Fatal(err)
		}
		step(4, func() {
			if got, err := Load(dir1); err != nil || len(got.Frozen) != 36 {
				b.Fatal(err)
			}
		})
		if st, err := os.Stat(Path(dir)); err == nil {
			size = st.Size()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
	b.ReportMetric(float64(len(v1))/(1<<20), "v1-file-MiB")
	for i, name := range []string{"encode", "save", "load", "v1-encode", "v1-load"} {
		b.ReportMetric(wall[i].Seconds()/n, name+"-s")
		b.ReportMetric(cpu[i].Seconds()/n, name+"-cpu-s")
	}
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
