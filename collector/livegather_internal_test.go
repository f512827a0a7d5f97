package collector

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// blockingGatherer counts gathers and holds each until released.
type blockingGatherer struct {
	calls   atomic.Int32
	release chan struct{}
	reg     *prometheus.Registry
}

func (g *blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.calls.Add(1)
	<-g.release
	return g.reg.Gather()
}

func TestLiveGathers_ScrapesArrivingDuringAGatherShareIt_LaterOnesGatherAfresh(t *testing.T) {
	reg := prometheus.NewRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_up", Help: "x"})
	up.Set(1)
	reg.MustRegister(up)
	g := &blockingGatherer{release: make(chan struct{}), reg: reg}
	var l liveGathers
	format := expfmt.NewFormat(expfmt.TypeTextPlain)

	results := make([][]byte, 11)
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := l.get(g, format)
		if err != nil {
			t.Error(err)
			return
		}
		results[0] = c.plain
	})
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 10; i++ {
		wg.Go(func() {
			c, err := l.get(g, format)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = c.plain
		})
	}
	time.Sleep(200 * time.Millisecond) // let the ten reach the wait
	close(g.release)
	wg.Wait()
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d gathers for 11 concurrent scrapes, want 1 shared", n)
	}
	for i, r := range results {
		if string(r) != string(results[0]) || len(r) == 0 {
			t.Fatalf("scrape %d got %q, want the shared %q", i, r, results[0])
		}
	}
	// A scrape after the gather finished does not reuse it: no stale values.
	up.Set(0)
	c, err := l.get(g, format)
	if err != nil {
		t.Fatal(err)
	}
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d gathers, want a fresh one for the later scrape", n)
	}
	if string(c.plain) == string(results[0]) {
		t.Fatalf("later scrape got the old exposition %q", c.plain)
	}
}
