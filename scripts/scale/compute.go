package main

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// computeRuns is Build+Reports timed on one form of the input.
type computeRuns struct {
	BuildSeconds   []float64 `json:"build_seconds"`
	ReportsSeconds []float64 `json:"reports_seconds"`
	TotalSeconds   []float64 `json:"total_seconds"`
	MedianSeconds  float64   `json:"median_total_seconds"`
	Members        int       `json:"members"`
	Sessions       int       `json:"sessions"`
	Enrolled       int       `json:"enrolled"`
	CaseloadGroups int       `json:"caseload_groups"`
}

// computeResult is what the compute child prints.
type computeResult struct {
	// Resolved is the input as the replica hands it to Build (contacts by
	// index, ids unique).
	Resolved    computeRuns `json:"resolved"`
	LoadSeconds float64     `json:"load_seconds"`
	PeakRSSKiB  int64       `json:"peak_rss_kib"`
	GOMAXPROCS  int         `json:"gomaxprocs"`
}

func timeBuild(data engagement.Data, ecfg engagement.Config, now time.Time, runs int) computeRuns {
	var res computeRuns
	for range max(1, runs) {
		runtime.GC()
		debug.FreeOSMemory()
		t := time.Now()
		m := engagement.Build(data, ecfg, now)
		tb := time.Since(t)
		rep := m.Reports()
		tt := time.Since(t)
		res.BuildSeconds = append(res.BuildSeconds, tb.Seconds())
		res.ReportsSeconds = append(res.ReportsSeconds, (tt - tb).Seconds())
		res.TotalSeconds = append(res.TotalSeconds, tt.Seconds())
		res.Members, res.Sessions, res.CaseloadGroups = len(m.Members), len(m.Sessions), len(rep.Caseload)
		res.Enrolled = 0
		for i := range m.Members {
			if m.Members[i].Enrolled {
				res.Enrolled++
			}
		}
	}
	s := slices.Clone(res.TotalSeconds)
	slices.Sort(s)
	res.MedianSeconds = s[len(s)/2]
	return res
}

// computeChild times engagement.Build + Reports on the data in path, in a
// process that holds nothing else (so the garbage collector sees what the
// daemon's would), and prints the result as JSON on stdout.
func computeChild(path string, runs int) int {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var df dataFile
	err = gob.NewDecoder(f).Decode(&df)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "decoding", path+":", err)
		return 1
	}
	cfg, err := defaultConfig(df.Timezone)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ecfg := cfg.Engagement()
	res := computeResult{LoadSeconds: round2(time.Since(t0).Seconds()), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	res.Resolved = timeBuild(df.Data, ecfg, df.Now, runs)
	res.PeakRSSKiB, _ = procStatus(os.Getpid(), "VmHWM")
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// runComputeChild runs this program again as the compute child.
func runComputeChild(ctx context.Context, path string, runs int) (computeResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return computeResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-compute-child", path, "-compute-runs", fmt.Sprint(runs))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return computeResult{}, fmt.Errorf("compute child: %w", err)
	}
	var res computeResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("compute child output: %w", err)
	}
	return res, nil
}

var errEnough = errors.New("enough pages")

// sequentialSample reads pages conversation pages of the full read's query
// with one cursor through the project's client (its rate limiter included)
// and returns the time per page.
func sequentialSample(ctx context.Context, base, token string, pages int, start int64) (time.Duration, int, error) {
	c, err := intercom.New(base, token, "2.10", intercom.WithRequestTimeout(30*time.Second))
	if err != nil {
		return 0, 0, err
	}
	q := intercom.And(intercom.Filter("updated_at", ">", start-1), intercom.Filter("state", "=", "closed"))
	n := 0
	t0 := time.Now()
	err = c.SearchConversations(ctx, q, func([]intercom.Conversation) error {
		n++
		if n >= pages {
			return errEnough
		}
		return nil
	})
	took := time.Since(t0)
	if err != nil && !errors.Is(err, errEnough) {
		return 0, n, err
	}
	if n == 0 {
		return 0, 0, errors.New("no page read")
	}
	return took / time.Duration(n), n, nil
}
