package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
)

type runner struct {
	o       options
	ctx     context.Context
	root    string
	tmp     string
	bin     string
	token   string
	caps    capabilities
	env     environment
	figures []figure
	details map[string]any
	live    []*daemon
	fakes   []*fake
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func newRunner(ctx context.Context, o options) (*runner, error) {
	root, err := moduleRoot(o.exporterDir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "intercom-scale-")
	if err != nil {
		return nil, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	r := &runner{
		o: o, ctx: ctx, root: root, tmp: tmp, bin: filepath.Join(tmp, "intercom_exporter"),
		token: "scale-" + hex.EncodeToString(b[:]), details: map[string]any{},
	}
	r.env = environment{
		Started: time.Now().UTC().Format(time.RFC3339), GoVersion: goVersion(), CPUs: runtime.NumCPU(),
		LoadStart: loadavg(), MemTotal: memTotal(), Revision: revision(root), CommandArg: os.Args,
	}
	return r, nil
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s scale: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func (r *runner) cleanup() {
	for _, d := range r.live {
		if !d.exited() {
			_, _ = d.stop(30 * time.Second)
		}
	}
	for _, f := range r.fakes {
		f.close()
	}
	if r.o.keep {
		r.logf("kept %s (daemon logs, state)", r.tmp)
		return
	}
	_ = os.RemoveAll(r.tmp)
}

// daemonOverlap is the daemon's default INCREMENTAL_OVERLAP, and
// generatorLead how far before the start the generated workspace's "now"
// is: beyond the overlap.
const (
	daemonOverlap = 5 * time.Minute
	generatorLead = daemonOverlap + time.Minute
)

func (r *runner) daemonEnv(base, stateDir string, concurrency int) (map[string]string, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	env := map[string]string{
		"INTERCOM_API_BASE":     base,
		"INTERCOM_ACCESS_TOKEN": r.token,
		"STATE_DIR":             stateDir,
		"REFRESH_INTERVAL":      "6h", // refreshes happen when the scenario triggers them
		"SLOW_REFRESH_INTERVAL": "6h",
		"FULL_REFRESH_INTERVAL": r.o.fullRefreshIv.String(),
		"SYNC_MODE":             "off", // the sync would write
		// POST /refresh is a write: allowed here, on loopback only.
		"ALLOW_UNAUTHENTICATED": "true",
		"LOG_LEVEL":             "info",
	}
	if concurrency > 0 {
		env["REFRESH_CONCURRENCY"] = strconv.Itoa(concurrency)
	}
	return env, nil
}

// refreshRun is one daemon start and its first refresh.
type refreshRun struct {
	d        *daemon
	stats    phaseStats
	m        metrics
	duration float64 // intercom_last_refresh_duration_seconds
	done     map[string]string
}

// startAndRefresh starts a daemon on a fresh or kept state directory and
// waits for its start-up refresh.
func (r *runner) startAndRefresh(name string, fk *fake, env map[string]string) (*refreshRun, error) {
	fk.reset()
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(r.bin, filepath.Join(r.tmp, name+".log"), addr, env)
	if err != nil {
		return nil, err
	}
	r.live = append(r.live, d)
	r.logf("%s: daemon pid %d on %s, waiting for its refresh (log %s)", name, d.pid(), addr, d.logPath)
	m, err := d.waitRefresh(r.ctx, d.started, 0, r.o.refreshWait)
	rr := &refreshRun{d: d, stats: fk.stats(), m: m, duration: m.sum["intercom_last_refresh_duration_seconds"]}
	rr.done = waitLogLine(d.logPath, "refresh of Intercom data done", 5*time.Second)
	return rr, err
}

func (r *runner) noteCapabilities() error {
	c, err := probeCapabilities(r.ctx, r.bin)
	if err != nil {
		return err
	}
	r.caps = c
	add := func(ok bool, has, lacks string) {
		if ok {
			r.env.Daemon = append(r.env.Daemon, has)
		} else {
			r.env.Lacks = append(r.env.Lacks, lacks)
		}
	}
	add(c.RefreshConcurrency, "REFRESH_CONCURRENCY", "REFRESH_CONCURRENCY not read (the -concurrency flag and the sequential run set a variable the daemon ignores)")
	add(c.FullRefreshInterval, "FULL_REFRESH_INTERVAL", "FULL_REFRESH_INTERVAL not read (no incremental refresh)")
	add(c.StateDir, "STATE_DIR", "STATE_DIR not read (restart reads Intercom in full)")
	r.logf("the daemon reads: [%s]; lacks [%s]", strings.Join(r.env.Daemon, ", "), strings.Join(r.env.Lacks, "; "))
	return nil
}

func (r *runner) scenario() error {
	o := r.o
	ctx := r.ctx
	r.logf("building the daemon from %s", r.root)
	took, err := buildDaemon(ctx, r.root, r.bin)
	if err != nil {
		return err
	}
	r.logf("built in %s", took.Round(time.Millisecond))
	if err := r.noteCapabilities(); err != nil {
		return err
	}

	// ---- the workspace ----
	r.logf("generating: %d contacts (%d enrolled), %d closed session conversations over %d days, %d coaches, %d employers",
		o.contacts, o.enrolled, o.conversations, o.days, o.coaches, o.employers)
	// The generator's "now" is further in the past than the daemon's
	// incremental overlap: it gives every conversation of the last days an
	// updated_at of at most "now", thousands of them exactly "now", which
	// a real workspace would have spread over days, not piled into the
	// minutes an incremental read looks back over.
	now := time.Now().Add(-generatorLead)
	ws, st, err := generate(o.seed, o.contacts, o.enrolled, o.conversations, o.days, o.coaches, o.employers, true, now)
	if err != nil {
		return err
	}
	dataPath := filepath.Join(r.tmp, "data.gob")
	if err := st.writeData(ws, dataPath, now); err != nil {
		return err
	}
	r.details["workspace"] = st
	r.fig("workspace", fmt.Sprintf("%d contacts (%d participants, %d with a valid registration); %d conversations, %d closed sessions (generator %d, %+d); %d coaches, %d employers, %d days",
		st.Contacts, st.Participants, st.Enrolled, st.ConversationsTotal, st.ClosedSessions, st.GeneratedAs, st.Adjusted, st.Coaches, st.Employers, st.Days), "", statusInfo)
	r.fig("fake Intercom", fmt.Sprintf("%s latency, %d calls/min in 10 s windows (%d a window)", o.latency, o.rate, max(1, o.rate/6)), "", statusInfo)
	runtime.GC()

	fk, err := startFake(ws, r.token, o.rate, o.latency)
	if err != nil {
		return err
	}
	r.fakes = append(r.fakes, fk)
	stateDir := filepath.Join(r.tmp, "state")
	env, err := r.daemonEnv(fk.url, stateDir, o.concurrency)
	if err != nil {
		return err
	}

	// ---- cold full refresh ----
	cold, err := r.startAndRefresh("cold", fk, env)
	if err != nil {
		return fmt.Errorf("cold refresh: %w", err)
	}
	r.details["cold"] = cold.stats
	r.details["cold_log"] = cold.done
	r.details["cold_queries"] = cold.stats.queries(6)
	bound := boundSeconds(cold.stats.Answered, o.rate)
	r.fig("cold: API requests", fmt.Sprintf("%d (%s)", cold.stats.Answered, cold.stats.endpoints()), "", statusInfo)
	r.fig("cold: rate-limit bound", fmt.Sprintf("%.1f s (%d requests / %.1f per s)", bound, cold.stats.Answered, float64(o.rate)/60), "", statusInfo)
	r.fig("cold: wall time (daemon refresh duration)", fmt.Sprintf("%.1f s = %.2f x bound", cold.duration, cold.duration/bound),
		fmt.Sprintf("<= %.1f s (1.25 x bound)", 1.25*bound), passIf(cold.duration <= 1.25*bound))
	r.fig("cold: API span (fake, first to last request)", fmt.Sprintf("%.1f s; calls per 10 s window: %s (budget %d)",
		cold.stats.SpanSeconds, cold.stats.windowList(12), max(1, o.rate/6)), "", statusInfo)
	r.fig("cold: 429 responses", strconv.Itoa(cold.stats.TooMany), "0", passIf(cold.stats.TooMany == 0))
	sessionsMetric := cold.m.sum["intercom_sessions"]
	r.fig("cold: sum(intercom_sessions)", fmt.Sprintf("%.0f (daemon log: sessions=%s, conversations_read=%s, contacts=%s)",
		sessionsMetric, cold.done["sessions"], cold.done["conversations_read"], cold.done["contacts"]),
		fmt.Sprintf("= %d closed sessions", st.ClosedSessions), passIf(int(sessionsMetric) == st.ClosedSessions))
	rssRefresh := cold.d.peakRSS()
	r.fig("cold: daemon peak RSS after the refresh (VmHWM)", mib(rssRefresh), "", statusInfo)

	// ---- /metrics: one scraper, then concurrent scrapers ----
	one := scrape(ctx, cold.d.addr, 1, 20, o.scrapeCap)
	r.details["scrape_single"] = one
	r.fig("/metrics latency, 1 scraper (baseline)", fmt.Sprintf("p50 %.1f ms, max %.1f ms (%d scrapes)", one.P50ms, one.Maxms, one.Completed), "", statusInfo)
	r.logf("scraping /metrics: %d scrapers x %d, cap %s", o.scrapers, o.scrapesEach, o.scrapeCap)
	sr := scrape(ctx, cold.d.addr, o.scrapers, o.scrapesEach, o.scrapeCap)
	r.details["scrape"] = sr
	rssScrape := cold.d.peakRSS()
	r.fig("/metrics latency", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d/%d scrapes in %.1f s, %d errors; %d samples, %.1f MB, %.2f MB gzip)",
		sr.P50ms, sr.P99ms, sr.Maxms, sr.Completed, sr.Planned, sr.Seconds, sr.Errors, cold.m.lines, float64(cold.m.bytes)/1e6, float64(sr.BodyBytes)/1e6),
		fmt.Sprintf("p99 <= 50 ms, %d scrapers", o.scrapers), passIf(sr.P99ms <= 50 && sr.Errors == 0 && sr.Completed == sr.Planned))

	// ---- report computation ----
	r.logf("timing Build+Reports in a child process (%d runs)", o.computeRuns)
	cr, err := runComputeChild(ctx, dataPath, o.computeRuns)
	if err != nil {
		r.fig("report computation (Build+Reports, input as the replica gives it)", err.Error(), "<= 1 s", statusFail)
	} else {
		r.details["compute"] = cr
		show := func(c computeRuns) string {
			var runs []string
			for _, t := range c.TotalSeconds {
				runs = append(runs, fmt.Sprintf("%.2f", t))
			}
			return fmt.Sprintf("median %.2f s of [%s] (Build %.2f + Reports %.2f; %d members, %d sessions, %d enrolled; GOMAXPROCS %d)",
				c.MedianSeconds, strings.Join(runs, " "), median(c.BuildSeconds), median(c.ReportsSeconds), c.Members, c.Sessions, c.Enrolled, cr.GOMAXPROCS)
		}
		r.fig("report computation (Build+Reports, input as the replica gives it)", show(cr.Resolved), "<= 1 s", passIf(cr.Resolved.MedianSeconds <= 1))
	}
	if own, worst, ok := daemonComputeFigures(cold); own != "" {
		result := statusInfo
		if ok {
			result = passIf(worst <= time.Second)
		}
		r.fig("report computation, as the daemon logs it (its refresh, a superset)", own, "<= 1 s", result)
	}

	// ---- changes, then the incremental refresh ----
	watermark := int64(cold.m.sum["intercom_data_timestamp_seconds"])
	if watermark == 0 {
		watermark = cold.d.started.Unix()
	}
	var coachIDs []string
	for _, a := range ws.Admins() {
		coachIDs = append(coachIDs, a.ID)
	}
	r.logf("changing %.1f%% of conversations and contacts", o.changePct)
	cs := st.change(ws, o.changePct, o.seed, time.Now(), coachIDs)
	// An incremental read starts INCREMENTAL_OVERLAP before the previous
	// one (its default: the scenario leaves it unset), its contacts at the
	// start of that day.
	convFrom := watermark - int64(daemonOverlap/time.Second)
	overlapFrom := dayStart(convFrom, st.Timezone)
	changedConvs, overlapContacts, sessionsNow := st.countSince(ws, convFrom, overlapFrom)
	r.details["changes"] = cs
	allowed := 1.1*float64(ceilDiv(changedConvs, 150)+ceilDiv(overlapContacts, 150)) + 10
	r.fig("changes", fmt.Sprintf("%d conversations (%d reopened, %d reassigned, %d channel, %d touched), %d contacts; watermark %s",
		cs.Conversations, cs.Reopened, cs.Reassigned, cs.Rechanneled, cs.Touched, cs.Contacts, time.Unix(watermark, 0).UTC().Format(time.RFC3339)), "", statusInfo)
	r.fig("incremental: counts for the target", fmt.Sprintf("conversations updated since the watermark minus the overlap (%s) %d; contacts updated in the overlap window (since %s, workspace day of the watermark) %d",
		daemonOverlap, changedConvs, time.Unix(overlapFrom, 0).UTC().Format(time.RFC3339), overlapContacts), "", statusInfo)

	trigger := o.trigger
	if trigger == "auto" {
		// Ask the running daemon whether it has a refresh endpoint.
		trigger = "restart"
		if cold.d.hasEndpoint(ctx, "/refresh") {
			trigger = "post:/refresh"
		}
		r.logf("incremental: trigger %s (asked the daemon for POST /refresh)", trigger)
	}
	var incStats phaseStats
	var incM metrics
	var incDur float64
	var restarted *daemon
	var readyIn time.Duration
	var readyErr error
	switch {
	case trigger == "sighup" || strings.HasPrefix(trigger, "post:"):
		fk.reset()
		before := cold.m.sum["intercom_refresh_failures_total"]
		t := time.Now()
		if path, ok := strings.CutPrefix(trigger, "post:"); ok {
			r.logf("incremental: POST %s", path)
			if err := cold.d.post(ctx, path); err != nil {
				return fmt.Errorf("triggering the incremental refresh: %w", err)
			}
		} else {
			r.logf("incremental: SIGHUP to pid %d", cold.d.pid())
			if err := syscall.Kill(cold.d.pid(), syscall.SIGHUP); err != nil {
				return err
			}
		}
		incM, err = cold.d.waitRefresh(ctx, t, before, o.refreshWait)
		incStats = fk.stats()
		if err != nil {
			r.fig("incremental refresh", err.Error(), "", statusFail)
		}
		incDur = incM.sum["intercom_last_refresh_duration_seconds"]
		// Restart with state, measured on its own.
		if _, err := cold.d.stop(60 * time.Second); err != nil {
			r.fig("graceful stop", err.Error(), "exits 0 on SIGTERM", statusFail)
		}
		restarted, readyIn, readyErr = r.restart("restart", env)
		if restarted != nil && readyErr == nil {
			_, _ = r.waitStartRefresh(restarted)
		}
	case trigger == "restart":
		stopTook, err := cold.d.stop(60 * time.Second)
		r.fig("graceful stop (SIGTERM)", fmt.Sprintf("%.2f s, %v", stopTook.Seconds(), errText(err)), "exits 0", passIf(err == nil))
		fk.reset()
		restarted, readyIn, readyErr = r.restart("restart", env)
		if restarted != nil && readyErr == nil {
			incM, err = r.waitStartRefresh(restarted)
			if err != nil {
				r.fig("incremental refresh", err.Error(), "", statusFail)
			}
			incDur = incM.sum["intercom_last_refresh_duration_seconds"]
		}
		incStats = fk.stats()
	}
	var incLog map[string]string
	if restarted != nil && trigger == "restart" {
		incLog = waitLogLine(restarted.logPath, "refresh of Intercom data done", 5*time.Second)
	} else {
		incLog = waitLogLine(cold.d.logPath, "refresh of Intercom data done", 5*time.Second)
	}
	r.details["incremental_log"] = incLog
	r.details["incremental"] = incStats
	r.details["incremental_queries"] = incStats.queries(6)
	r.details["incremental_trigger"] = trigger
	r.fig("incremental: API requests", fmt.Sprintf("%d (%s); trigger %s; refresh %.1f s (daemon: kind=%s); %d 429s",
		incStats.Answered, incStats.endpoints(), trigger, incDur, incLog["kind"], incStats.TooMany),
		fmt.Sprintf("<= %.0f = 1.1 x (ceil(%d/150) + ceil(%d/150)) + 10", math.Floor(allowed), changedConvs, overlapContacts),
		passIf(incStats.Answered > 0 && float64(incStats.Answered) <= allowed && incStats.TooMany == 0))
	if incM.sum != nil {
		got := incM.sum["intercom_sessions"]
		r.fig("incremental: sum(intercom_sessions)", fmt.Sprintf("%.0f", got), fmt.Sprintf("= %d closed sessions after the changes", sessionsNow), passIf(int(got) == sessionsNow))
	}
	if readyErr != nil {
		r.fig("restart with state: ready (full reports served)", fmt.Sprintf("%s (%v)", secs(readyIn), readyErr), "<= 5 s", statusFail)
	} else {
		r.fig("restart with state: ready (full reports served)", secs(readyIn)+" from process start to /readyz 200 and intercom_caseload_members served", "<= 5 s", passIf(readyIn <= 5*time.Second))
	}

	peak := cold.d.peakRSS()
	parts := []string{fmt.Sprintf("cold run: %s after its refresh, %s after the scrape test", mib(rssRefresh), mib(rssScrape))}
	if restarted != nil {
		peak = max(peak, restarted.peakRSS())
		parts = append(parts, "restarted: "+mib(restarted.peakRSS()))
		if _, err := restarted.stop(60 * time.Second); err != nil {
			r.fig("graceful stop after restart", err.Error(), "exits 0", statusFail)
		}
	}
	r.fig("daemon peak RSS (VmHWM)", fmt.Sprintf("%s (%s)", mib(peak), strings.Join(parts, ", ")), "<= 1024 MiB", passIf(peak > 0 && peak <= 1<<20))

	// ---- sequential comparison ----
	start := (engagement.DayOf(time.Now(), st.ecfg.Location) - engagement.Day(st.ecfg.LookbackDays)).Start(st.ecfg.Location).Unix()
	switch {
	case o.sequential:
		seqEnv, err := r.daemonEnv(fk.url, filepath.Join(r.tmp, "state-sequential"), 1)
		if err != nil {
			return err
		}
		label := "sequential cold read (REFRESH_CONCURRENCY=1)"
		if !r.caps.RefreshConcurrency {
			label = "sequential cold read (REFRESH_CONCURRENCY ignored: the daemon's own read)"
		}
		seq, err := r.startAndRefresh("sequential", fk, seqEnv)
		if err != nil {
			r.fig(label, err.Error(), "", statusFail)
		} else {
			r.details["sequential"] = seq.stats
			r.fig(label, fmt.Sprintf("%.1f s, %d requests, %d 429s; speed-up of the cold run %.1fx", seq.duration, seq.stats.Answered, seq.stats.TooMany, seq.duration/math.Max(cold.duration, 0.001)), "", statusInfo)
			_, _ = seq.d.stop(60 * time.Second)
		}
	case o.seqSample > 0:
		perPage, n, err := sequentialSample(ctx, fk.url, r.token, o.seqSample, start)
		if err != nil {
			r.fig("sequential read (one cursor), EXTRAPOLATED", err.Error(), "", statusFail)
		} else {
			est := perPage.Seconds() * float64(cold.stats.Answered)
			r.fig("sequential read (one cursor), EXTRAPOLATED", fmt.Sprintf("%.1f s = %d requests x %.0f ms/page (measured over %d pages); speed-up of the cold run %.1fx",
				est, cold.stats.Answered, float64(perPage.Microseconds())/1000, n, est/math.Max(cold.duration, 0.001)), "", statusInfo)
		}
	default:
		r.fig("sequential read", "not run (-sequential=false, -sequential-sample 0)", "", statusSkip)
	}

	// ---- the smaller workspace at 1,000 calls a minute ----
	fk.close()
	r.fakes = r.fakes[:0]
	ws, st = nil, nil
	runtime.GC()
	if !o.pacing {
		r.fig("pacing run", "not run (-pacing=false)", "", statusSkip)
		return nil
	}
	enrolled := o.pacingContacts * 3 / 10
	r.logf("pacing run: %d contacts, %d conversations at %d calls/min", o.pacingContacts, o.pacingConversations, o.pacingRate)
	pws, pst, err := generate(o.seed+1, o.pacingContacts, enrolled, o.pacingConversations, o.days, min(o.coaches, 40), max(10, o.employers/4), false, time.Now())
	if err != nil {
		return err
	}
	pfk, err := startFake(pws, r.token, o.pacingRate, o.latency)
	if err != nil {
		return err
	}
	r.fakes = append(r.fakes, pfk)
	penv, err := r.daemonEnv(pfk.url, filepath.Join(r.tmp, "state-pacing"), o.concurrency)
	if err != nil {
		return err
	}
	pr, err := r.startAndRefresh("pacing", pfk, penv)
	if err != nil {
		r.fig("pacing run", err.Error(), "", statusFail)
		return nil
	}
	r.details["pacing"] = pr.stats
	r.details["pacing_workspace"] = pst
	pb := boundSeconds(pr.stats.Answered, o.pacingRate)
	r.fig("pacing: workspace", fmt.Sprintf("%d contacts, %d conversations; %d calls/min (%d a window), %s latency", pst.Contacts, pst.ConversationsTotal, o.pacingRate, max(1, o.pacingRate/6), o.latency), "", statusInfo)
	r.fig("pacing: 429 responses", fmt.Sprintf("%d of %d requests", pr.stats.TooMany, pr.stats.Requests), "0", passIf(pr.stats.TooMany == 0))
	budget := max(1, o.pacingRate/6)
	achieved := "n/a (fewer than 3 windows)"
	if rate, ok := pr.stats.steadyRate(); ok {
		achieved = fmt.Sprintf("%.0f calls/min = %s of the limit", rate, pct(rate, float64(o.pacingRate)))
	}
	r.fig("pacing: achieved rate (full windows)", fmt.Sprintf("%s; calls per 10 s window: %s (budget %d)", achieved, pr.stats.windowList(12), budget),
		fmt.Sprintf("<= %d a window", budget), passIf(pr.stats.MaxPerWindow <= budget))
	r.fig("pacing: refresh wall time", fmt.Sprintf("%.1f s = %.2f x bound (%d requests / %.1f per s = %.1f s)", pr.duration, pr.duration/pb, pr.stats.Answered, float64(o.pacingRate)/60, pb), "", statusInfo)
	seen := pr.m.sum["intercom_api_rate_limit"]
	r.fig("pacing: X-RateLimit-Limit seen by the daemon", fmt.Sprintf("%.0f", seen), strconv.Itoa(o.pacingRate), passIf(int(seen) == o.pacingRate))
	_, _ = pr.d.stop(60 * time.Second)
	return nil
}

// restart starts the daemon again on the same state and times it until
// full reports are served.
func (r *runner) restart(name string, env map[string]string) (*daemon, time.Duration, error) {
	addr, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	d, err := startDaemon(r.bin, filepath.Join(r.tmp, name+".log"), addr, env)
	if err != nil {
		return nil, 0, err
	}
	r.live = append(r.live, d)
	r.logf("%s: daemon pid %d on %s with the same STATE_DIR, waiting until ready", name, d.pid(), addr)
	ready, err := d.waitReady(r.ctx, r.o.refreshWait)
	r.logf("%s: ready after %s (%v)", name, ready.Round(time.Millisecond), errText(err))
	return d, ready, err
}

// waitStartRefresh waits for the refresh a (re)started daemon runs; if none
// starts within a minute, it says so.
func (r *runner) waitStartRefresh(d *daemon) (metrics, error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		m, err := d.metrics(r.ctx)
		if err == nil && m.sum["intercom_refreshes_total"] > 0 {
			return d.waitRefresh(r.ctx, d.started, 0, r.o.refreshWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return metrics{}, fmt.Errorf("the restarted daemon started no refresh within a minute: the incremental refresh could not be triggered")
}

var computeMetric = regexp.MustCompile(`^intercom_.*(build|compute|computation|report).*seconds`)

// daemonComputeFigures finds what the daemon itself says about its report
// computation: a metric, or keys of its "refresh done" log line (today
// reports=, which covers Build and the snapshot: Reports, the series budget
// and the encoded exposition). worst is the largest duration found.
func daemonComputeFigures(rr *refreshRun) (text string, worst time.Duration, ok bool) {
	var parts []string
	for k, v := range rr.m.sum {
		if computeMetric.MatchString(k) {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, v))
			worst, ok = max(worst, time.Duration(v*float64(time.Second))), true
		}
	}
	for k, v := range rr.done {
		if strings.Contains(k, "build") || strings.Contains(k, "report") || strings.Contains(k, "compute") {
			parts = append(parts, k+"="+v)
			if d, err := time.ParseDuration(v); err == nil {
				worst, ok = max(worst, d), true
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", "), worst, ok
}

// waitLogLine waits a little for the daemon's log line (its metrics may be
// updated just before it is written) and returns its fields.
func waitLogLine(path, msg string, wait time.Duration) map[string]string {
	deadline := time.Now().Add(wait)
	for {
		if l := logLines(path, msg); len(l) > 0 {
			return l[len(l)-1]
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
