package intercomtest

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestGenerate_ScalesTo200kContactsAnd1MConversations is slow and memory
// hungry (about a gigabyte while generating), so it runs only with
// INTERCOMTEST_LARGE=1: it checks that the workspace stays in modest memory
// and that searches over a million conversations are served fast.
func TestGenerate_ScalesTo200kContactsAnd1MConversations(t *testing.T) {
	if os.Getenv("INTERCOMTEST_LARGE") == "" {
		t.Skip("set INTERCOMTEST_LARGE=1 to run")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start, cpu0 := time.Now(), cpuTime()
	ws := Generate(GenerateOptions{Seed: 1, Participants: 130_000, OtherContacts: 70_000, Conversations: 1_000_000, Now: genNow})
	took, cpu := time.Since(start), cpuTime()-cpu0
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := after.HeapAlloc - before.HeapAlloc
	t.Logf("generated 200k contacts, 1M conversations in %v (CPU %v); live heap %d MiB", took, cpu, heap>>20)
	assert.Equal(t, 200_000, ws.NumContacts())
	assert.Equal(t, 1_000_000, ws.NumConversations())
	assert.Less(t, heap, uint64(600<<20), "modest memory")

	s := startServer(t, ws, Options{})
	q := group("AND", filter("updated_at", ">", genNow.Unix()-365*86400), filter("state", "=", "closed"))
	start, cpu0 = time.Now(), cpuTime()
	p := searchConversations(t, s, q, 150, "") // sorts the index once and counts the matches
	first, firstCPU := time.Since(start), cpuTime()-cpu0
	start = time.Now()
	for range 20 {
		p = searchConversations(t, s, q, 150, p.Pages.Next.StartingAfter)
	}
	next := time.Since(start) / 20
	start = time.Now()
	inc := searchConversations(t, s, filter("updated_at", ">", genNow.Unix()-86400), 150, "")
	incremental := time.Since(start)
	t.Logf("first page %v (CPU %v, total %d), next pages %v each, incremental query %v (total %d)", first, firstCPU, p.TotalCount, next, incremental, inc.TotalCount)
	if !raceEnabled {
		assert.Less(t, next, 50*time.Millisecond)
		assert.Less(t, incremental, 50*time.Millisecond)
	}
}

// cpuTime is the CPU time used by the process so far: on a shared machine
// it says more about the work done than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
