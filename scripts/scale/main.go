// Command scale runs the exporter's scale scenario and prints every figure
// beside its target.
//
// It generates a workspace with intercomtest.Generate, serves it from the
// fake Intercom on 127.0.0.1 (latency per request, rate limit in 10-second
// windows), builds the daemon and runs it as a separate process (so that its
// peak RSS is its own), and measures from the fake's request log and the
// daemon's own metrics:
//
//   - cold full refresh: wall time against the rate-limit bound, 429s;
//     the same read with REFRESH_CONCURRENCY=1 (or a sample of it,
//     extrapolated) for the speed-up;
//   - /metrics latency with concurrent scrapers on loopback;
//   - report computation (engagement.Build + Reports) for the whole
//     workspace, in a child process that holds only the rules' input;
//   - an incremental refresh after 1% of conversations and contacts changed;
//   - restart with STATE_DIR: time until full reports are served;
//   - peak RSS of the daemon;
//   - a smaller workspace at 1,000 calls a minute: pacing by the headers.
//
// Run from the repository root:
//
//	GOTOOLCHAIN=local go run ./scripts/scale -small          # CI smoke, < 1 min
//	GOTOOLCHAIN=local go run ./scripts/scale                 # the full scenario, about 5 minutes
//	GOTOOLCHAIN=local go run ./scripts/scale -full -json scale.json
//
// See scripts/scale/README.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type options struct {
	seed          int64
	contacts      int
	enrolled      int
	conversations int // closed session conversations
	days          int
	coaches       int
	employers     int
	latency       time.Duration
	rate          int
	concurrency   int
	changePct     float64

	small      bool
	full       bool
	sequential bool
	seqSample  int

	pacing              bool
	pacingRate          int
	pacingContacts      int
	pacingConversations int

	scrapers      int
	scrapesEach   int
	scrapeCap     time.Duration
	computeRuns   int
	trigger       string
	refreshWait   time.Duration
	jsonOut       string
	strict        bool
	keep          bool
	exporterDir   string
	computeChild  string
	fullRefreshIv time.Duration

	freshness bool
	fresh     freshOptions
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.Int64Var(&o.seed, "seed", 1, "generator seed")
	fs.IntVar(&o.contacts, "contacts", 200_000, "contacts in the workspace")
	fs.IntVar(&o.enrolled, "enrolled", 60_000, "enrolled participants among them (the generator's Participants)")
	fs.IntVar(&o.conversations, "conversations", 1_000_000, "CLOSED SESSION conversations (the generator's mix is scaled up so that exactly this many exist)")
	fs.IntVar(&o.days, "days", 365, "conversations span the last DAYS days")
	fs.IntVar(&o.coaches, "coaches", 80, "coaches (admins)")
	fs.IntVar(&o.employers, "employers", 400, "employers")
	fs.DurationVar(&o.latency, "latency", 150*time.Millisecond, "latency the fake adds to every request")
	fs.IntVar(&o.rate, "rate", 10_000, "rate limit of the fake, calls a minute (enforced per 10-second window)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "REFRESH_CONCURRENCY for the daemon; 0 leaves it unset (the daemon's default)")
	fs.Float64Var(&o.changePct, "change-pct", 1, "percent of conversations (of -conversations) and of contacts changed before the incremental refresh")
	fs.BoolVar(&o.small, "small", false, "quick CI-sized smoke: 5,000 contacts, 20,000 sessions, 5 ms latency (explicit size flags win)")
	fs.BoolVar(&o.full, "full", false, "measure everything without shortcuts: the sequential comparison reads the whole workspace (about 20 minutes at 150 ms)")
	fs.BoolVar(&o.sequential, "sequential", false, "run the full cold read again with REFRESH_CONCURRENCY=1 (default: on with -full)")
	fs.IntVar(&o.seqSample, "sequential-sample", 200, "without -sequential: read this many conversation pages with one cursor and extrapolate (0: skip)")
	fs.BoolVar(&o.pacing, "pacing", true, "also run the smaller workspace at -pacing-rate calls a minute")
	fs.IntVar(&o.pacingRate, "pacing-rate", 1_000, "rate limit of the pacing run, calls a minute")
	fs.IntVar(&o.pacingContacts, "pacing-contacts", 20_000, "contacts of the pacing run (30% enrolled)")
	fs.IntVar(&o.pacingConversations, "pacing-conversations", 100_000, "conversations of the pacing run (generator count, all kinds)")
	fs.IntVar(&o.scrapers, "scrapers", 50, "concurrent /metrics scrapers")
	fs.IntVar(&o.scrapesEach, "scrapes", 40, "scrapes per scraper")
	fs.DurationVar(&o.scrapeCap, "scrape-cap", 30*time.Second, "overall time cap of the scrape test")
	fs.IntVar(&o.computeRuns, "compute-runs", 3, "Build+Reports runs (the median is the figure)")
	fs.StringVar(&o.trigger, "trigger", "auto", "how to trigger the incremental refresh: auto, sighup, restart or post:/path (an endpoint of the daemon); auto: POST /refresh if the daemon serves it, else restart")
	fs.DurationVar(&o.refreshWait, "refresh-wait", 2*time.Hour, "longest wait for one refresh")
	fs.DurationVar(&o.fullRefreshIv, "full-refresh-interval", 24*time.Hour, "FULL_REFRESH_INTERVAL given to the daemon (long, so the incremental is not a reconcile)")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure and detail to this JSON file")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a figure fails its target")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (daemon logs, state)")
	fs.StringVar(&o.exporterDir, "repo", "", "repository root to build the daemon from (default: the module root of the working directory)")
	fs.BoolVar(&o.freshness, "freshness", false, "run the freshness scenario instead (data age under steady changes with a search lag, then the idle cost): see docs/freshness.md")
	fs.DurationVar(&o.fresh.interval, "fresh-interval", time.Minute, "freshness: REFRESH_INTERVAL given to the daemon")
	fs.DurationVar(&o.fresh.slowInterval, "fresh-slow-interval", 15*time.Minute, "freshness: SLOW_REFRESH_INTERVAL given to the daemon")
	fs.DurationVar(&o.fresh.lag, "lag", 20*time.Second, "freshness: the fake's search index lag")
	fs.DurationVar(&o.fresh.duration, "fresh-duration", 10*time.Minute, "freshness: how long conversations change")
	fs.DurationVar(&o.fresh.changeEvery, "change-every", 10*time.Second, "freshness: one conversation change this often (closes, channel edits, reassignments in turn)")
	fs.DurationVar(&o.fresh.contactEvery, "contact-change-every", 2*time.Minute, "freshness: one contact change this often")
	fs.DurationVar(&o.fresh.idle, "idle-duration", 15*time.Minute, "freshness: how long nothing changes while the idle cost is measured")
	fs.IntVar(&o.fresh.syncContacts, "sync-day-contacts", 5000, "freshness: contacts the sync wrote on the busy day (0: skip)")
	fs.DurationVar(&o.fresh.poll, "fresh-poll", time.Second, "freshness: /metrics polled this often while things change")
	fs.DurationVar(&o.fresh.idlePoll, "idle-poll", 15*time.Second, "freshness: /metrics polled this often when idle (a Prometheus scrape)")
	fs.StringVar(&o.computeChild, "compute-child", "", "internal: time Build+Reports on the data in this file and print JSON")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.computeChild != "" {
		return computeChild(o.computeChild, o.computeRuns)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.small {
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("contacts", &o.contacts, 5_000)
		def("enrolled", &o.enrolled, 1_500)
		def("conversations", &o.conversations, 20_000)
		def("coaches", &o.coaches, 20)
		def("employers", &o.employers, 60)
		def("pacing-contacts", &o.pacingContacts, 6_000)
		def("pacing-conversations", &o.pacingConversations, 50_000)
		def("sequential-sample", &o.seqSample, 50)
		def("scrapes", &o.scrapesEach, 10)
		if !set["scrape-cap"] {
			o.scrapeCap = 10 * time.Second
		}
		if !set["latency"] {
			o.latency = 5 * time.Millisecond
		}
	}
	if !set["sequential"] {
		o.sequential = o.full
	}
	if o.freshness && (o.fresh.changeEvery <= 0 || o.fresh.contactEvery <= 0 || o.fresh.duration <= 0 || o.fresh.poll <= 0 || o.fresh.idlePoll <= 0) {
		fmt.Fprintln(os.Stderr, "scale: the freshness durations must be positive")
		return 2
	}
	if o.enrolled > o.contacts || o.contacts <= 0 || o.conversations < 0 || o.rate <= 0 {
		fmt.Fprintln(os.Stderr, "scale: need 0 < enrolled <= contacts, conversations >= 0, rate > 0")
		return 2
	}
	switch {
	case o.trigger == "auto", o.trigger == "sighup", o.trigger == "restart", strings.HasPrefix(o.trigger, "post:/"):
	default:
		fmt.Fprintln(os.Stderr, "scale: -trigger must be auto, sighup, restart or post:/path")
		return 2
	}

	ctx, stop := signalContext()
	defer stop()
	r, err := newRunner(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		return 1
	}
	defer r.cleanup()
	scenario := r.scenario
	if o.freshness {
		scenario = r.freshness
	}
	if err := scenario(); err != nil {
		r.logf("scenario stopped: %v", err)
		r.fig("scenario", "stopped: "+err.Error(), "runs to the end", statusFail)
	}
	r.env.LoadEnd = loadavg()
	r.env.Finished = time.Now().UTC().Format(time.RFC3339)
	r.printTable(os.Stdout)
	if o.jsonOut != "" {
		if err := r.writeJSON(o.jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "scale: writing", o.jsonOut+":", err)
			return 1
		}
		r.logf("wrote %s", o.jsonOut)
	}
	if o.strict && r.failed() {
		return 1
	}
	return 0
}

// ---- results ----

const (
	statusPass = "PASS"
	statusFail = "FAIL"
	statusInfo = "info"
	statusSkip = "SKIP"
)

type figure struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target,omitempty"`
	Result string `json:"result"`
}

type environment struct {
	Started    string   `json:"started"`
	Finished   string   `json:"finished"`
	GoVersion  string   `json:"go_version"`
	CPUs       int      `json:"cpus"`
	LoadStart  string   `json:"loadavg_start"`
	LoadEnd    string   `json:"loadavg_end"`
	MemTotal   string   `json:"mem_total"`
	Revision   string   `json:"revision"`
	Daemon     []string `json:"daemon_capabilities"`
	Lacks      []string `json:"daemon_lacks"`
	CommandArg []string `json:"command"`
}

func passIf(ok bool) string {
	if ok {
		return statusPass
	}
	return statusFail
}

func (r *runner) fig(name, value, target, result string) {
	r.figures = append(r.figures, figure{Name: name, Value: value, Target: target, Result: result})
	r.logf("figure: %-44s %s  [%s] %s", name, value, target, result)
}

func (r *runner) failed() bool {
	for _, f := range r.figures {
		if f.Result == statusFail {
			return true
		}
	}
	return false
}

func (r *runner) printTable(w io.Writer) {
	fmt.Fprintf(w, "\nScale scenario, %s (%d CPUs, load %s -> %s), revision %s\n",
		r.env.Started, r.env.CPUs, r.env.LoadStart, r.env.LoadEnd, r.env.Revision)
	if len(r.env.Lacks) > 0 {
		fmt.Fprintf(w, "Daemon lacks: %s\n", strings.Join(r.env.Lacks, "; "))
	}
	wName, wVal, wTgt := len("figure"), len("value"), len("target")
	for _, f := range r.figures {
		wName = max(wName, len(f.Name))
		wVal = max(wVal, len(f.Value))
		wTgt = max(wTgt, len(f.Target))
	}
	wVal = min(wVal, 70)
	line := func(a, b, c, d string) {
		fmt.Fprintf(w, "| %-*s | %-*s | %-*s | %-6s |\n", wName, a, wVal, b, wTgt, c, d)
	}
	line("figure", "value", "target", "result")
	fmt.Fprintf(w, "|%s|%s|%s|--------|\n", strings.Repeat("-", wName+2), strings.Repeat("-", wVal+2), strings.Repeat("-", wTgt+2))
	for _, f := range r.figures {
		line(f.Name, f.Value, f.Target, f.Result)
	}
	pass, fail := 0, 0
	for _, f := range r.figures {
		switch f.Result {
		case statusPass:
			pass++
		case statusFail:
			fail++
		}
	}
	fmt.Fprintf(w, "%d PASS, %d FAIL\n", pass, fail)
}

func (r *runner) writeJSON(path string) error {
	out := struct {
		Environment environment    `json:"environment"`
		Options     map[string]any `json:"options"`
		Figures     []figure       `json:"figures"`
		Details     map[string]any `json:"details"`
	}{r.env, r.optionMap(), r.figures, r.details}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *runner) optionMap() map[string]any {
	o := r.o
	return map[string]any{
		"seed": o.seed, "contacts": o.contacts, "enrolled": o.enrolled, "closed_session_conversations": o.conversations,
		"days": o.days, "coaches": o.coaches, "employers": o.employers, "latency": o.latency.String(),
		"rate_per_minute": o.rate, "refresh_concurrency": o.concurrency, "change_pct": o.changePct,
		"small": o.small, "full": o.full, "sequential": o.sequential, "sequential_sample": o.seqSample,
		"pacing": o.pacing, "pacing_rate": o.pacingRate, "pacing_contacts": o.pacingContacts,
		"pacing_conversations": o.pacingConversations, "scrapers": o.scrapers, "scrapes_each": o.scrapesEach,
		"scrape_cap": o.scrapeCap.String(), "compute_runs": o.computeRuns, "trigger": o.trigger,
	}
}

// ---- small helpers ----

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "?"
}

func moduleRoot(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the repository root or pass -repo")
	}
	return filepath.Dir(mod), nil
}

func revision(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func pct(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*a/b)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func goVersion() string { return runtime.Version() }
