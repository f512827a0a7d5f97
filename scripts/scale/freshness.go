package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// The freshness scenario (-freshness, docs/freshness.md): the daemon runs on
// its own schedule (REFRESH_INTERVAL, SLOW_REFRESH_INTERVAL) against a fake
// whose search lags behind writes, while
//
//   - data age: conversations change at a steady rate (closes,
//     reassignments, channel edits) and contacts now and then; each change is
//     timed from when it was made to when /metrics first shows it;
//   - idle cost: nothing changes; the requests the fake answers and the CPU
//     time of the daemon process are counted, per minute;
//   - a day on which the sync wrote N contacts: they are touched (updated
//     today), and one slow refresh is counted: the contacts' search reads the
//     whole day at every slow refresh, so that is the day's extra cost.
//
// Each change assigns its conversation to a coach of its own ("Probe
// 0001", ...; admins added before the cold read), and each contact change
// gives the contact an employer of its own, so that its reflection can be
// told apart in /metrics: a series with that coach or employer appears.

type freshOptions struct {
	interval, slowInterval time.Duration
	lag                    time.Duration
	duration               time.Duration
	changeEvery            time.Duration
	contactEvery           time.Duration
	idle                   time.Duration
	syncContacts           int
	poll, idlePoll         time.Duration
}

type probe struct {
	Kind    string    `json:"kind"`
	ID      string    `json:"id"`
	Label   string    `json:"label"` // the coach or employer label that shows it
	At      time.Time `json:"at"`
	Seen    time.Time `json:"seen,omitzero"`
	DelayS  float64   `json:"delay_seconds,omitempty"`
	metric  string
	labelOf string
}

// probeAdminID is the id of probe coach k.
func probeAdminID(k int) string { return strconv.Itoa(990_000 + k) }

func probeName(k int) string { return fmt.Sprintf("Probe %04d", k) }

func (r *runner) freshness() error {
	o, fo := r.o, r.o.fresh
	ctx := r.ctx
	r.logf("building the daemon from %s", r.root)
	if _, err := buildDaemon(ctx, r.root, r.bin); err != nil {
		return err
	}
	r.logf("generating: %d contacts (%d enrolled), %d closed session conversations over %d days",
		o.contacts, o.enrolled, o.conversations, o.days)
	now := time.Now().Add(-generatorLead) // see scenario
	ws, st, err := generate(o.seed, o.contacts, o.enrolled, o.conversations, o.days, o.coaches, o.employers, true, now)
	if err != nil {
		return err
	}
	nConvProbes := int(fo.duration/fo.changeEvery) + 1
	for k := 1; k <= nConvProbes; k++ {
		ws.AddAdmin(intercom.Admin{ID: probeAdminID(k), Name: probeName(k), Email: fmt.Sprintf("probe%d@coaching.example", k)})
	}
	// Candidates, from the generated conversations created in the last
	// 300 days (inside the lookback): sessions to reassign, open ones to
	// close, closed ones on another channel to move to a session channel;
	// enrolled contacts (they have an engagement status) to move to an
	// employer of their own.
	rng := rand.New(rand.NewPCG(uint64(o.seed), 77))
	recent := now.Add(-300 * 24 * time.Hour).Unix()
	var sessions, open, other []string
	for _, c := range ws.Conversations() {
		if c.CreatedAt < recent {
			continue
		}
		switch {
		case st.isSession(&c):
			sessions = append(sessions, c.ID)
		case c.State == "open":
			open = append(open, c.ID)
		case c.State == "closed":
			other = append(other, c.ID)
		}
	}
	var enrolled []string
	for _, c := range ws.Contacts() {
		if _, ok := c.CustomAttributes[intercomtest.AttrRegistrationDate]; ok {
			enrolled = append(enrolled, c.ID)
		}
	}
	for _, l := range [][]string{sessions, open, other, enrolled} {
		rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	}
	r.fig("workspace", fmt.Sprintf("%d contacts, %d closed sessions, %d conversations; %d probe coaches", st.Contacts, st.ClosedSessions, st.ConversationsTotal, nConvProbes), "", statusInfo)
	runtime.GC()

	fk, err := startFakeLag(ws, r.token, o.rate, o.latency, fo.lag)
	if err != nil {
		return err
	}
	r.fakes = append(r.fakes, fk)
	env, err := r.daemonEnv(fk.url, filepath.Join(r.tmp, "state"), o.concurrency)
	if err != nil {
		return err
	}
	env["REFRESH_INTERVAL"] = fo.interval.String()
	env["SLOW_REFRESH_INTERVAL"] = fo.slowInterval.String()
	r.fig("settings", fmt.Sprintf("REFRESH_INTERVAL %s, SLOW_REFRESH_INTERVAL %s, search lag %s, %d calls/min, latency %s",
		fo.interval, fo.slowInterval, fo.lag, o.rate, o.latency), "", statusInfo)

	cold, err := r.startAndRefresh("fresh", fk, env)
	if err != nil {
		return fmt.Errorf("cold refresh: %w", err)
	}
	d := cold.d
	r.fig("cold: full read", fmt.Sprintf("%.1f s, %d requests", cold.duration, cold.stats.Answered), "", statusInfo)

	// ---- data age ----
	var mu sync.Mutex
	var probes []*probe
	changeCtx, stopChanges := context.WithTimeout(ctx, fo.duration)
	defer stopChanges()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(fo.changeEvery)
		defer tick.Stop()
		k := 0
		for {
			select {
			case <-changeCtx.Done():
				return
			case <-tick.C:
			}
			k++
			p := &probe{Label: probeName(k), metric: "intercom_sessions", labelOf: "coach"}
			admin := intercom.ID(probeAdminID(k))
			pop := func(l *[]string) string { id := (*l)[0]; *l = (*l)[1:]; return id }
			switch {
			case k%3 == 1 && len(open) > 0:
				p.Kind, p.ID = "close", pop(&open)
			case k%3 == 2 && len(other) > 0:
				p.Kind, p.ID = "channel edit", pop(&other)
			default:
				p.Kind, p.ID = "reassignment", pop(&sessions)
			}
			p.At = time.Now()
			ws.UpdateConversation(p.ID, func(c *intercom.Conversation) {
				c.UpdatedAt = p.At.Unix()
				c.AdminAssigneeID = admin
				switch p.Kind {
				case "close":
					c.State = "closed"
					setChannel(c, st.cfg.ChannelAttribute, "Phone")
				case "channel edit":
					setChannel(c, st.cfg.ChannelAttribute, "Video Conference")
				}
			})
			mu.Lock()
			probes = append(probes, p)
			mu.Unlock()
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(fo.contactEvery)
		defer tick.Stop()
		k := 0
		for {
			select {
			case <-changeCtx.Done():
				return
			case <-tick.C:
			}
			if k >= len(enrolled) {
				continue
			}
			k++
			p := &probe{Kind: "contact employer", ID: enrolled[k-1], Label: fmt.Sprintf("Probe Employer %04d", k),
				metric: "intercom_engagement_contacts", labelOf: "employer"}
			p.At = time.Now()
			ws.SetContactAttribute(p.ID, intercomtest.AttrEmployer, p.Label, p.At.Unix())
			mu.Lock()
			probes = append(probes, p)
			mu.Unlock()
		}
	})
	// The poller looks for every probe's series; after the changes, at
	// the idle rate (a Prometheus scrape), until the end of the run.
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	var pollWG sync.WaitGroup
	pollWG.Go(func() {
		for {
			every := fo.poll
			if changeCtx.Err() != nil {
				every = fo.idlePoll
			}
			select {
			case <-pollCtx.Done():
				return
			case <-time.After(every):
			}
			m, err := d.metrics(pollCtx)
			if err != nil {
				continue
			}
			seen := time.Now()
			mu.Lock()
			for _, p := range probes {
				if p.Seen.IsZero() && hasLabel(m, p.metric, p.labelOf, p.Label) {
					p.Seen = seen
					p.DelayS = round2(seen.Sub(p.At).Seconds())
				}
			}
			mu.Unlock()
		}
	})
	r.logf("data age: a conversation change every %s and a contact change every %s for %s", fo.changeEvery, fo.contactEvery, fo.duration)
	fk.reset()
	cpu0, _ := cpuSeconds(d.pid())
	<-changeCtx.Done()
	wg.Wait()
	busyStats := fk.stats()
	cpu1, _ := cpuSeconds(d.pid())
	// Let the last conversation changes show up.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(fo.interval + fo.lag + 10*time.Second):
	}
	// delays are the probes of one metric that showed, and how many did not.
	delays := func(metric string) (seen []float64, missed int) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range probes {
			switch {
			case p.metric != metric:
			case p.Seen.IsZero():
				missed++
			default:
				seen = append(seen, p.DelayS)
			}
		}
		return seen, missed
	}
	convDelays, missed := delays("intercom_sessions")
	target := (fo.interval + 20*time.Second + fo.lag).Seconds()
	p50, p95, mx := quantile(convDelays, 0.5), quantile(convDelays, 0.95), quantile(convDelays, 1)
	r.fig("data age: conversation changes reflected in /metrics", fmt.Sprintf("p50 %.1f s, p95 %.1f s, max %.1f s (%d changes, %d not seen; polled every %s)",
		p50, p95, mx, len(convDelays)+missed, missed, fo.poll),
		fmt.Sprintf("p95 <= %.0f s (REFRESH_INTERVAL + 20 s + lag)", target), passIf(missed == 0 && len(convDelays) > 0 && p95 <= target))
	mins := fo.duration.Minutes()
	r.fig("data age phase: cost", fmt.Sprintf("%.1f requests/min (%s), %.2f CPU-s/min", float64(busyStats.Answered)/mins, busyStats.endpoints(), (cpu1-cpu0)/mins), "", statusInfo)

	// ---- idle, a quiet day ----
	r.logf("idle: nothing changes for %s", fo.idle)
	fk.reset()
	cpu0, _ = cpuSeconds(d.pid())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(fo.idle):
	}
	cpu1, _ = cpuSeconds(d.pid())
	idle := fk.stats()
	mins = fo.idle.Minutes()
	reqMin := float64(idle.Answered) / mins
	r.details["idle"] = idle
	r.fig("idle, quiet day: requests a minute", fmt.Sprintf("%.2f (%d in %s: %s)", reqMin, idle.Answered, fo.idle, idle.endpoints()), "<= 3", passIf(reqMin <= 3))
	cpuMin := (cpu1 - cpu0) / mins
	r.fig("idle: daemon CPU a minute", fmt.Sprintf("%.3f CPU-s (%.2f s in %s; /metrics scraped every %s)", cpuMin, cpu1-cpu0, fo.idle, fo.idlePoll), "<= 0.5", passIf(cpuMin <= 0.5))

	// Contact changes: by now one slow refresh at least has run.
	contactDelays, cmissed := delays("intercom_engagement_contacts")
	mu.Lock()
	r.details["probes"] = probes
	mu.Unlock()
	ctarget := (fo.slowInterval + fo.interval + fo.lag + 20*time.Second).Seconds()
	cmax := quantile(contactDelays, 1)
	r.fig("data age: contact changes reflected in /metrics", fmt.Sprintf("max %.0f s, p50 %.0f s (%d changes, %d not seen yet)", cmax, quantile(contactDelays, 0.5), len(contactDelays)+cmissed, cmissed),
		fmt.Sprintf("<= %.0f s (SLOW_REFRESH_INTERVAL + a refresh + lag)", ctarget), passIf(cmissed == 0 && cmax <= ctarget))

	// ---- a day on which the sync wrote N contacts ----
	if fo.syncContacts > 0 {
		contacts := ws.Contacts()
		n := min(fo.syncContacts, len(contacts))
		at := time.Now().Unix()
		for _, k := range rng.Perm(len(contacts))[:n] {
			ws.SetContactAttribute(contacts[k].ID, intercomtest.AttrEngagementStatus, "Engaged", at)
		}
		time.Sleep(fo.lag + time.Second)
		fk.reset()
		t := time.Now()
		before, _ := d.metrics(ctx)
		if err := d.post(ctx, "/refresh"); err != nil {
			return err
		}
		if _, err := d.waitRefresh(ctx, t, before.sum["intercom_refresh_failures_total"], o.refreshWait); err != nil {
			return err
		}
		slow := fk.stats()
		quick := float64(idle.ByEndpoint["POST /conversations/search"]) / mins
		perMin := quick + float64(slow.Answered)/fo.slowInterval.Minutes()
		r.details["sync_day_slow_refresh"] = slow
		r.fig(fmt.Sprintf("idle, a day the sync wrote %d contacts: requests a minute", n),
			fmt.Sprintf("%.2f = %.2f quick (measured idle) + %d of one slow refresh (measured: %s) / %s", perMin, quick, slow.Answered, slow.endpoints(), fo.slowInterval),
			"<= 6", passIf(perMin <= 6))
	}
	stopPoll()
	pollWG.Wait()
	_, _ = d.stop(60 * time.Second)
	return nil
}

func setChannel(c *intercom.Conversation, attr, channel string) {
	if c.CustomAttributes == nil {
		c.CustomAttributes = intercom.Attributes{}
	}
	c.CustomAttributes[attr] = []byte(strconv.Quote(channel))
}

// hasLabel reports whether a sample of metric carries label=value with a
// positive value.
func hasLabel(m metrics, metric, label, value string) bool {
	want := label + `="` + value + `"`
	for k, v := range m.samples {
		if v > 0 && strings.HasPrefix(k, metric+"{") && strings.Contains(k, want) {
			return true
		}
	}
	return false
}

// quantile is the q-quantile (nearest rank) of v; 0 when empty.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

// cpuSeconds is the user and system CPU time of a process so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name (which may hold spaces), in ")".
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime/stime", pid)
	}
	const ticks = 100 // USER_HZ on Linux
	return (ut + st) / ticks, nil
}
