// Command intercom_exporter reads a coaching organisation's Intercom on its
// own timer, publishes the coaching reports as Prometheus metrics, keeps
// the engagement attributes of contacts up to date and serves member-level
// CSV files. main only wires: configuration, logger, registry, the
// exporter, the web server and shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // TIMEZONE works in minimal images without a zoneinfo database

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/sethvargo/go-envconfig"

	"github.com/coaching/intercom_exporter/collector"
	"github.com/coaching/intercom_exporter/config"
	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
	"github.com/coaching/intercom_exporter/replica"
	"github.com/coaching/intercom_exporter/state"
	"github.com/coaching/intercom_exporter/web"
)

const program = "intercom_exporter"

func main() {
	os.Exit(run(os.Args[1:], envconfig.OsLookuper(), os.Stdout, os.Stderr))
}

// run is main with its inputs: arguments, environment and outputs. It
// returns the exit code: 0 after a graceful stop, 1 on a start-up problem.
func run(args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "run against an in-process fake Intercom loaded with a generated workspace (also DEMO=true)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [-demo] [-version]\n\nConfiguration comes from the environment (see docs/configuration.md).\n\n", program)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.Print(program))
		return 0
	}
	if *demo {
		env = envconfig.MultiLookuper(envconfig.MapLookuper(map[string]string{"DEMO": "true"}), env)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP asks for a refresh (below); taken from the start, so that one
	// sent during start-up does not stop the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := config.Load(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger)
	logger.Info("Starting "+program, "version", version.Info(), "build_context", version.BuildContext())

	// The Intercom read from: the configured one, or in demo mode a fake
	// loaded with a generated workspace, which the sync writes to (apply)
	// and whose member data is served without authentication
	// (docs/development.md).
	ic := intercomSettings{apiBase: cfg.APIBase, token: cfg.AccessToken.Reveal(),
		syncMode: cfg.Mode(), allowUnauthenticated: cfg.AllowUnauthenticated}
	if cfg.Demo {
		t0 := time.Now()
		demo, err := intercomtest.StartDemo(intercomtest.DemoOptions{
			Generate: intercomtest.GenerateOptions{
				Seed:          cfg.DemoSeed,
				Participants:  cfg.DemoParticipants,
				Conversations: cfg.DemoConversations,
				Coaches:       cfg.DemoCoaches,
				Employers:     cfg.DemoEmployers,
				Now:           time.Now(),
				Timezone:      cfg.Timezone,
			},
			Token:   ic.token,
			Address: cfg.DemoIntercomAddress,
		})
		if err != nil {
			logger.Error("Starting the demo Intercom failed", "err", err)
			return 1
		}
		defer demo.Close()
		ic = intercomSettings{apiBase: demo.URL, token: demo.Token, syncMode: engagement.ModeApply, allowUnauthenticated: true}
		logger.Info("Demo mode: serving a generated workspace from a fake Intercom",
			"intercom_api_base", demo.URL,
			"participants", cfg.DemoParticipants, "conversations", cfg.DemoConversations,
			"coaches", cfg.DemoCoaches, "employers", cfg.DemoEmployers, "seed", cfg.DemoSeed,
			"generated_in", time.Since(t0).Round(time.Millisecond))
	}
	logger.Info("Configuration", "config", cfg)
	// (ALLOW_UNAUTHENTICATED is warned about by the web side, which acts on it.)
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}

	exp, col, err := build(cfg, ic, logger)
	if err != nil {
		logger.Error("Setting up the exporter failed", "err", err)
		return 1
	}
	// The registry holds the exporter's own metrics; its report metrics are
	// served by col.MetricsHandler, encoded once per refresh.
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(program),
		col.Health(),
	)
	metrics := promhttp.InstrumentMetricHandler(reg, col.MetricsHandler(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}, logger))

	var syncer web.Syncer
	if ic.syncMode != engagement.ModeOff {
		syncer = exp
	}
	defs := cfg.Definitions()
	webDefs := make([]web.Definition, len(defs))
	for i, d := range defs {
		webDefs[i] = web.Definition{Name: d.Name, Value: d.Value, Meaning: d.Meaning}
		if d.Name == "SYNC_MODE" {
			webDefs[i].Value = string(ic.syncMode) // the demo's, in demo mode
		}
	}
	srv, err := web.New(web.Options{
		Source:               exp,
		Syncer:               syncer,
		Refresher:            exp,
		Metrics:              metrics,
		Definitions:          webDefs,
		Version:              version.Version,
		Logger:               logger,
		AllowUnauthenticated: ic.allowUnauthenticated,
		Demo:                 cfg.Demo,
		WebConfigFile:        cfg.WebConfigFile,
		ListenAddress:        cfg.ListenAddress,
		SyncUsers:            cfg.SyncUsers,
		MemberUsers:          cfg.MemberUsers,
		LookbackDays:         cfg.LookbackDays,
	})
	if err != nil {
		logger.Error("Setting up the HTTP server failed", "err", err)
		return 1
	}

	// The stop, in order (docs/shutdown-and-workspace.md): SIGTERM cancels
	// a running sync, whose POST /sync client gets its partial summary;
	// then the HTTP server drains (at most web.ShutdownTimeout), then the
	// scheduler stops its jobs (at most daemon.StopTimeout), then the
	// state is saved (at most daemon.SaveTimeout). Serving and the
	// scheduler have contexts of their own: serving ends when the watcher
	// below says so, after the syncs are cancelled, and the scheduler
	// outlives the HTTP drain.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- runExporter(exp, runCtx) }()

	// Watch the scheduler while serving: if it ends before it is asked to
	// (a job that cannot be scheduled, a loop that died), stop at once with
	// an error so that systemd or Kubernetes restarts the process.
	died := make(chan error, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case err := <-runDone:
			if err == nil {
				err = errors.New("it returned without being asked to stop")
			}
			logger.Error("The refresh and sync scheduler stopped unexpectedly; stopping the exporter so that it is restarted", "err", err)
			died <- err
		case <-serveCtx.Done(): // serving failed on its own
		case <-ctx.Done():
			logger.Info("Stopping: cancelling a running sync, then draining HTTP, stopping the scheduler and saving the state",
				"http_drain_max", web.ShutdownTimeout, "scheduler_stop_max", daemon.StopTimeout, "final_save_max", daemon.SaveTimeout)
		}
		exp.StopSyncs()
		stopServing()
	}()

	// SIGHUP asks for a refresh now, as POST /refresh does.
	go func() {
		for {
			select {
			case <-serveCtx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: refresh requested")
				exp.RequestRefresh()
			}
		}
	}()

	if cfg.Demo {
		// The demo shows the sync too: one apply run on the first data,
		// instead of waiting for SYNC_SCHEDULE.
		go demoSync(serveCtx, exp)
	}

	code := 0
	if err := srv.Serve(serveCtx); err != nil {
		logger.Error("Serving HTTP failed", "address", cfg.ListenAddress, "err", err)
		code = 1
	}
	stopServing()
	<-watched
	select {
	case <-died:
		code = 1
	default:
		stopRun()
		if err := <-runDone; err != nil {
			logger.Error("The refresh scheduler failed", "err", err)
			code = 1
		}
	}
	logger.Info("Stopped " + program)
	return code
}

// runExporter runs the refresh and sync scheduler until ctx is done (a
// variable so that a test can make it fail).
var runExporter = (*daemon.Exporter).Run

// demoSync runs one sync as soon as the first reports are published.
func demoSync(ctx context.Context, exp *daemon.Exporter) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !exp.Status().Ready {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	// Sync logs and counts its own result.
	_, _ = exp.Sync(ctx, false)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	lvl := promslog.NewLevel()
	_ = lvl.Set(cfg.LogLevel) // validated by config.Load
	format := promslog.NewFormat()
	_ = format.Set(cfg.LogFormat)
	return promslog.New(&promslog.Config{Level: lvl, Format: format, Writer: w})
}

// intercomSettings are the Intercom the exporter reads and what it may do
// there: the configured ones, or the demo's.
type intercomSettings struct {
	apiBase, token       string
	syncMode             engagement.Mode
	allowUnauthenticated bool
}

// build makes the exporter's parts and hands them to each other: the
// Intercom client (its calls counted by the collector), the replica read
// through it, the sync runner writing through half of its rate limit
// (docs/sync.md), and the daemon that drives them.
func build(cfg *config.Config, ic intercomSettings, logger *slog.Logger) (*daemon.Exporter, *collector.Collector, error) {
	rules := cfg.Engagement()
	timeAttrs := replica.Settings{RegistrationAttributes: cfg.RegistrationAttributes, LastCallAttribute: cfg.LastCallAttribute}.TimeAttributes()
	col := collector.New(collector.Settings{
		RefreshInterval:    cfg.RefreshInterval,
		MaxSeriesPerFamily: cfg.MaxSeriesPerFamily,
		TimeAttributes:     timeAttrs,
		SyncMode:           ic.syncMode,
	}, logger)
	client, err := intercom.New(ic.apiBase, ic.token, cfg.Version,
		intercom.WithObserver(col),
		intercom.WithLogger(logger),
		intercom.WithRequestTimeout(cfg.RequestTimeout),
		intercom.WithRetry(cfg.RetryMaxAttempts, cfg.RetryBackoff, cfg.RetryMaxBackoff),
	)
	if err != nil {
		return nil, nil, err
	}
	rep := replica.New(client, replica.Settings{
		Rules:                  rules,
		ChannelAttribute:       cfg.ChannelAttribute,
		EmployerAttribute:      cfg.EmployerAttribute,
		RegistrationAttributes: cfg.RegistrationAttributes,
		LastCallAttribute:      cfg.LastCallAttribute,
		StatusAttribute:        cfg.StatusAttribute,
		RefreshConcurrency:     cfg.RefreshConcurrency,
		FullRefreshInterval:    cfg.FullRefreshInterval,
		SlowRefreshInterval:    cfg.SlowRefreshInterval,
		Overlap:                cfg.IncrementalOverlap,
	}, logger)
	runner := engagement.NewRunner(
		daemon.NewContactWriter(client.Share(0.5), cfg.LastCallAttribute, cfg.StatusAttribute),
		engagement.RunnerOptions{Concurrency: cfg.SyncConcurrency, MaxWrites: cfg.SyncMaxWrites})
	exp := daemon.New(daemon.Settings{
		Rules:              rules,
		RefreshInterval:    cfg.RefreshInterval,
		RefreshTimeout:     cfg.RefreshTimeout,
		FullRefreshTimeout: cfg.FullRefreshTimeout,
		SyncMode:           ic.syncMode,
		SyncSchedule:       cfg.SyncSchedule,
		LastCallAttribute:  cfg.LastCallAttribute,
		StatusAttribute:    cfg.StatusAttribute,
		BillingFreezeDays:  cfg.BillingFreezeDays,
		StateDir:           cfg.StateDir,
		Identity:           ic.apiBase,
		APIHost:            apiHost(ic.apiBase),
		TokenFingerprint:   state.TokenFingerprint(ic.token),
		Demo:               cfg.Demo,
	}, daemon.Parts{Replica: rep, Collector: col, Runner: runner, Attributes: client, Logger: logger})
	return exp, col, nil
}

// apiHost is the host name of an API base URL ("" when it does not parse).
func apiHost(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
