// Command intercom_exporter reads a coaching organisation's Intercom on its
// own timer, publishes the coaching reports as Prometheus metrics, keeps
// the engagement attributes of contacts up to date and serves member-level
// CSV files. main only wires: configuration, logger, registry, the
// exporter, the web server and shutdown.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom/intercomtest"
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
		fmt.Fprintf(stderr, "Usage: %s [-demo] [-version]\n\nConfiguration comes from the environment (see README.md).\n\n", program)
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

	cfg, err := config.Load(ctx, env)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger)
	logger.Info("Starting "+program, "version", version.Info(), "build_context", version.BuildContext())

	if cfg.Demo {
		closeDemo, err := startDemo(cfg, logger)
		if err != nil {
			logger.Error("Starting the demo Intercom failed", "err", err)
			return 1
		}
		defer closeDemo()
	}
	logger.Info("Configuration", "config", cfg)
	// (ALLOW_UNAUTHENTICATED is warned about by the web side, which acts on it.)
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}

	exp, err := collector.New(cfg, collector.Options{Logger: logger})
	if err != nil {
		logger.Error("Setting up the exporter failed", "err", err)
		return 1
	}
	// The registry holds the exporter's own metrics; its report metrics are
	// served by exp.MetricsHandler, encoded once per refresh.
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(program),
		exp.Health(),
	)
	metrics := promhttp.InstrumentMetricHandler(reg, exp.MetricsHandler(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}, logger))

	var syncer web.Syncer
	if cfg.Mode() != engagement.ModeOff {
		syncer = exp
	}
	defs := cfg.Definitions()
	webDefs := make([]web.Definition, len(defs))
	for i, d := range defs {
		webDefs[i] = web.Definition{Name: d.Name, Value: d.Value, Meaning: d.Meaning}
	}
	srv, err := web.New(web.Options{
		Source:               exp,
		Syncer:               syncer,
		Metrics:              metrics,
		Definitions:          webDefs,
		Version:              version.Version,
		Logger:               logger,
		AllowUnauthenticated: cfg.AllowUnauthenticated,
		Demo:                 cfg.Demo,
		WebConfigFile:        cfg.WebConfigFile,
		ListenAddress:        cfg.ListenAddress,
		LookbackDays:         cfg.LookbackDays,
	})
	if err != nil {
		logger.Error("Setting up the HTTP server failed", "err", err)
		return 1
	}

	// The refresh loop and the sync schedule run until ctx is done; Run
	// returns once running jobs have stopped.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- exp.Run(ctx) }()

	if cfg.Demo {
		// The demo shows the sync too: one apply run on the first data,
		// instead of waiting for SYNC_SCHEDULE.
		go demoSync(ctx, exp)
	}

	code := 0
	if err := srv.Serve(ctx); err != nil {
		logger.Error("Serving HTTP failed", "address", cfg.ListenAddress, "err", err)
		code = 1
	}
	cancel()
	if err := <-runDone; err != nil {
		logger.Error("The refresh scheduler failed", "err", err)
		code = 1
	}
	logger.Info("Stopped " + program)
	return code
}

// demoSync runs one sync as soon as the first reports are published.
func demoSync(ctx context.Context, exp *collector.Exporter) {
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

// startDemo starts the fake Intercom with a generated workspace and points
// the configuration at it (docs/development.md): the sync writes to it in
// apply mode, and member data is served without authentication.
func startDemo(cfg *config.Config, logger *slog.Logger) (func(), error) {
	t0 := time.Now()
	ws := intercomtest.Generate(intercomtest.GenerateOptions{
		Seed:          cfg.DemoSeed,
		Participants:  cfg.DemoParticipants,
		Conversations: cfg.DemoConversations,
		Coaches:       cfg.DemoCoaches,
		Employers:     cfg.DemoEmployers,
		Now:           time.Now(),
		Timezone:      cfg.Timezone,
	})
	token := cfg.AccessToken.Reveal()
	if token == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = "demo-" + hex.EncodeToString(b[:])
	}
	fake := intercomtest.NewServer(ws, intercomtest.Options{Token: token})
	base := fake.URL()
	closers := []func(){fake.Close}
	if cfg.DemoIntercomAddress != "" {
		ln, err := net.Listen("tcp", cfg.DemoIntercomAddress)
		if err != nil {
			fake.Close()
			return nil, fmt.Errorf("DEMO_INTERCOM_ADDRESS %s: %w", cfg.DemoIntercomAddress, err)
		}
		hs := &http.Server{Handler: fake.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		closers = append(closers, func() { _ = hs.Close() })
		base = "http://" + ln.Addr().String()
	}
	cfg.APIBase = base
	cfg.AccessToken = config.Secret(token)
	cfg.SyncMode = config.SyncApply
	cfg.AllowUnauthenticated = true
	logger.Info("Demo mode: serving a generated workspace from a fake Intercom",
		"intercom_api_base", base,
		"participants", cfg.DemoParticipants, "conversations", cfg.DemoConversations,
		"coaches", cfg.DemoCoaches, "employers", cfg.DemoEmployers, "seed", cfg.DemoSeed,
		"generated_in", time.Since(t0).Round(time.Millisecond))
	return func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}, nil
}
