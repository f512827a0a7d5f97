package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildDaemon builds the exporter from the repository root.
func buildDaemon(ctx context.Context, root, out string) (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %w\n%s", err, b)
	}
	return time.Since(t0), nil
}

// capabilities is what this scenario can use of the daemon, as the daemon
// itself says: its configuration check names every variable it reads, and
// a running daemon answers for its endpoints.
type capabilities struct {
	RefreshConcurrency  bool
	FullRefreshInterval bool
	StateDir            bool
}

// probeCapabilities starts the built daemon once with a bad value for each
// variable of interest and an invalid LISTEN_ADDRESS, so that it stops at
// its configuration check, whose message lists every variable it read and
// refused. A variable it does not read is not named.
func probeCapabilities(ctx context.Context, bin string) (capabilities, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DEMO=true", "LISTEN_ADDRESS=not-an-address",
		"REFRESH_CONCURRENCY=not-a-number", "FULL_REFRESH_INTERVAL=not-a-duration",
		"STATE_DIR=" + filepath.Join(os.TempDir(), "scale-no-such-dir", "state")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || !bytes.Contains(out, []byte("LISTEN_ADDRESS")) {
		return capabilities{}, fmt.Errorf("asking the daemon for its configuration: it did not refuse a bad LISTEN_ADDRESS (%v): %s", err, bytes.TrimSpace(out))
	}
	return capabilities{
		RefreshConcurrency:  bytes.Contains(out, []byte("REFRESH_CONCURRENCY")),
		FullRefreshInterval: bytes.Contains(out, []byte("FULL_REFRESH_INTERVAL")),
		StateDir:            bytes.Contains(out, []byte("STATE_DIR")),
	}, nil
}

// hasEndpoint asks a running daemon whether it serves POST path, without
// calling it: a GET answers 405 with POST in Allow when it does, 404 when
// the path is unknown.
func (d *daemon) hasEndpoint(ctx context.Context, path string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.StatusCode == http.StatusMethodNotAllowed && strings.Contains(resp.Header.Get("Allow"), http.MethodPost)
}

// daemon is one run of the exporter process.
type daemon struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	started time.Time
	done    chan struct{}
	waitErr error
	hwmKiB  int64 // VmHWM read just before it was stopped
	hc      *http.Client
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startDaemon starts the exporter with env (and nothing else of ours: a
// clean environment but PATH and HOME), its log appended to logPath.
func startDaemon(bin, logPath, addr string, env map[string]string) (*daemon, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "\n==== scale: starting daemon at %s ====\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "LISTEN_ADDRESS="+addr)
	cmd.Stdout, cmd.Stderr = lf, lf
	// If the harness dies, the daemon goes with it (Linux).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	d := &daemon{cmd: cmd, addr: addr, logPath: logPath, done: make(chan struct{}),
		hc: &http.Client{Timeout: 30 * time.Second}}
	d.started = time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	go func() {
		d.waitErr = cmd.Wait()
		lf.Close()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (SIGKILL after timeout); it records the peak
// RSS first.
func (d *daemon) stop(timeout time.Duration) (time.Duration, error) {
	if d.exited() {
		return 0, fmt.Errorf("the daemon had already exited: %v", d.waitErr)
	}
	if hwm, err := procStatus(d.pid(), "VmHWM"); err == nil {
		d.hwmKiB = hwm
	}
	t0 := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return time.Since(t0), d.waitErr
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return time.Since(t0), fmt.Errorf("did not stop within %s after SIGTERM: killed", timeout)
	}
}

// peakRSS is VmHWM now (or as recorded at stop).
func (d *daemon) peakRSS() int64 {
	if !d.exited() {
		if hwm, err := procStatus(d.pid(), "VmHWM"); err == nil {
			d.hwmKiB = hwm
		}
	}
	return d.hwmKiB
}

// procStatus reads a kB field of /proc/<pid>/status.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func (d *daemon) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post sends an empty POST to path and wants a 2xx answer.
func (d *daemon) post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// metrics is a parsed /metrics page: sums by metric name, and every
// sample by name{labels}.
type metrics struct {
	sum     map[string]float64
	samples map[string]float64
	lines   int
	bytes   int
}

func parseMetrics(b []byte) metrics {
	m := metrics{sum: map[string]float64{}, samples: map[string]float64{}, bytes: len(b)}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		m.lines++
		var key, rest string
		if j := strings.LastIndexByte(l, '}'); j >= 0 && strings.IndexByte(l, '{') >= 0 {
			key, rest = l[:j+1], l[j+1:]
		} else if k := strings.IndexByte(l, ' '); k >= 0 {
			key, rest = l[:k], l[k:]
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		val := f[0]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		name := key
		if j := strings.IndexByte(key, '{'); j >= 0 {
			name = key[:j]
		}
		m.sum[name] += v
		m.samples[key] = v
	}
	return m
}

func (d *daemon) metrics(ctx context.Context) (metrics, error) {
	code, b, err := d.get(ctx, "/metrics")
	if err != nil {
		return metrics{}, err
	}
	if code != http.StatusOK {
		return metrics{}, fmt.Errorf("/metrics: %d", code)
	}
	return parseMetrics(b), nil
}

// has reports whether the page has a sample of this metric.
func (m metrics) has(name string) bool {
	_, ok := m.sum[name]
	return ok
}

var errExited = errors.New("the daemon exited")

// waitRefresh waits until a refresh that ended at or after since succeeded
// (intercom_refresh_last_success_timestamp_seconds), or one failed
// (intercom_refresh_failures_total above failuresBefore).
func (d *daemon) waitRefresh(ctx context.Context, since time.Time, failuresBefore float64, timeout time.Duration) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if d.exited() {
			return metrics{}, fmt.Errorf("%w: %v (log: %s)", errExited, d.waitErr, d.logPath)
		}
		m, err := d.metrics(ctx)
		if err == nil {
			// To the nanosecond: a refresh asked for in the second the
			// previous one ended must not be taken for that one.
			if ts := m.sum["intercom_refresh_last_success_timestamp_seconds"]; ts > 0 && ts >= float64(since.UnixNano())/1e9 {
				return m, nil
			}
			if m.sum["intercom_refresh_failures_total"] > failuresBefore {
				return m, fmt.Errorf("a refresh failed (see %s): %s", d.logPath, lastLogLine(d.logPath, "refresh"))
			}
		}
		select {
		case <-ctx.Done():
			return m, fmt.Errorf("no successful refresh within %s", timeout)
		case <-tick.C:
		}
	}
}

// waitReady waits until /readyz answers 200 and /metrics carries
// intercom_caseload_members series (full reports served), polling every
// 20 ms; it returns the time since the process started.
func (d *daemon) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if d.exited() {
			return 0, fmt.Errorf("%w: %v (log: %s)", errExited, d.waitErr, d.logPath)
		}
		if code, _, err := d.get(ctx, "/readyz"); err == nil && code == http.StatusOK {
			if m, err := d.metrics(ctx); err == nil && m.has("intercom_caseload_members") {
				return time.Since(d.started), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Since(d.started), fmt.Errorf("not ready within %s", timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logfmt pairs of a log line.
var logfmtPair = regexp.MustCompile(`([a-zA-Z0-9_.]+)=("(?:[^"\\]|\\.)*"|\S*)`)

func parseLogfmt(l string) map[string]string {
	out := map[string]string{}
	for _, m := range logfmtPair.FindAllStringSubmatch(l, -1) {
		v := m[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[m[1]] = v
	}
	return out
}

// logLines returns the log lines written since the last "starting daemon"
// marker, whose msg contains sub.
func logLines(path, sub string) []map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	if i := strings.LastIndex(s, "==== scale: starting daemon"); i >= 0 {
		s = s[i:]
	}
	var out []map[string]string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "msg=") {
			continue
		}
		kv := parseLogfmt(l)
		if strings.Contains(kv["msg"], sub) {
			out = append(out, kv)
		}
	}
	return out
}

func lastLogLine(path, sub string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			l := lines[i]
			if len(l) > 400 {
				l = l[:400] + "..."
			}
			return l
		}
	}
	return ""
}
