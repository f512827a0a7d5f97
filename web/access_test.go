package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coaching/intercom_exporter/engagement"
)

const (
	testUser     = "finance"
	testPassword = "correct horse battery staple"
	// testToken stands for INTERCOM_ACCESS_TOKEN: it must never be logged
	// above debug.
	testToken = "dG9rOnNlY3JldC10b2tlbi0xMjM0NQ=="
)

// bcryptHash makes a basic_auth_users hash in the test (minimum cost, so
// the tests stay fast; exporter-toolkit accepts any valid cost).
func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// writeWebConfig writes an exporter-toolkit web configuration into dir.
func writeWebConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func basicAuthConfig(t *testing.T) string {
	return fmt.Sprintf("basic_auth_users:\n  %s: %s\n", testUser, bcryptHash(t, testPassword))
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir
// and returns a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "intercom-exporter-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePEM("server.crt", "CERTIFICATE", der)
	writePEM("server.key", "PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// freeAddr finds a free loopback port for Serve, which listens itself.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// served is a Server running Serve on a loopback port.
type served struct {
	base   string
	client *http.Client
	stop   func() error
}

// serve runs Serve with o until the test ends, and waits until it answers.
func serve(t *testing.T, o Options, scheme string, roots *x509.CertPool) *served {
	t.Helper()
	o.ListenAddress = freeAddr(t)
	if o.Source == nil {
		o.Source = newSource(fixtureModel())
	}
	if o.Metrics == nil {
		o.Metrics = metricsHandler
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	// Generous: a first request per user runs bcrypt twice (exporter-toolkit
	// and the access check), slow under -race on a busy machine.
	sv := &served{base: scheme + "://" + o.ListenAddress, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var once bool
	var result error
	sv.stop = func() error {
		if !once {
			once = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(ShutdownTimeout + 5*time.Second):
				result = errors.New("Serve did not return")
			}
			tr.CloseIdleConnections()
		}
		return result
	}
	t.Cleanup(func() {
		if err := sv.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := sv.client.Get(sv.base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			return sv
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (sv *served) request(t *testing.T, method, path string, auth ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, sv.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := sv.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestServe_BasicAuthGuardsEveryEndpoint(t *testing.T) {
	dir := t.TempDir()
	sv := serve(t, Options{WebConfigFile: writeWebConfig(t, dir, basicAuthConfig(t)),
		Syncer: &fakeSyncer{sum: engagement.Summary{Result: engagement.ResultSuccess}}}, "http", nil)

	for _, path := range []string{"/billing.csv", "/caseload.csv", "/metrics", "/", "/readyz"} {
		if r := sv.request(t, http.MethodGet, path); r.code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, r.code)
		}
		if r := sv.request(t, http.MethodGet, path, testUser, "wrong password"); r.code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", path, r.code)
		}
		if r := sv.request(t, http.MethodGet, path, "nobody", testPassword); r.code != http.StatusUnauthorized {
			t.Errorf("%s as an unknown user: %d, want 401", path, r.code)
		}
	}
	r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword)
	if r.code != http.StatusOK {
		t.Fatalf("right password: %d %s", r.code, r.body)
	}
	if _, rows := readCSV(t, r.body); len(rows) != len(billingOctober) {
		t.Errorf("%d rows, want %d", len(rows), len(billingOctober))
	}
	if r := sv.request(t, http.MethodPost, "/sync", testUser, testPassword); r.code != http.StatusOK {
		t.Errorf("POST /sync with basic auth: %d %s", r.code, r.body)
	}
}

func TestServe_MemberDataIs403WithoutBasicAuth(t *testing.T) {
	sv := serve(t, Options{Syncer: &fakeSyncer{}}, "http", nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/billing.csv"}, {http.MethodGet, "/caseload.csv"}, {http.MethodGet, "/participants.csv"},
		{http.MethodGet, "/sessions.csv?from=2026-10-01&to=2026-10-01"}, {http.MethodPost, "/sync"},
	} {
		r := sv.request(t, tc.method, tc.path)
		if r.code != http.StatusForbidden {
			t.Errorf("%s %s: %d, want 403", tc.method, tc.path, r.code)
		}
		for _, want := range []string{"WEB_CONFIG_FILE", "basic_auth_users", "htpasswd -nBC 10", "ALLOW_UNAUTHENTICATED=true"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s: the 403 does not say %q: %s", tc.path, want, r.body)
			}
		}
		if strings.Contains(r.body, "Zoe") || r.header.Get("X-Data-Timestamp") != "" {
			t.Errorf("%s: the 403 carries data: %v %s", tc.path, r.header, r.body)
		}
	}
	// Not member data: served.
	for _, path := range []string{"/", "/metrics", "/healthz", "/readyz"} {
		if r := sv.request(t, http.MethodGet, path); r.code != http.StatusOK {
			t.Errorf("%s: %d, want 200", path, r.code)
		}
	}
	// A web config without users (TLS only, say) is no basic auth either.
	dir := t.TempDir()
	selfSignedCert(t, dir)
	s, err := New(Options{Source: newSource(fixtureModel()), Metrics: metricsHandler,
		WebConfigFile: writeWebConfig(t, dir, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")})
	if err != nil {
		t.Fatal(err)
	}
	if r := get(t, s.Handler(), "/billing.csv"); r.code != http.StatusForbidden {
		t.Errorf("TLS without users: %d, want 403", r.code)
	}
}

func TestServe_AllowUnauthenticatedAndDemoServeMemberData(t *testing.T) {
	for name, o := range map[string]Options{
		"ALLOW_UNAUTHENTICATED": {AllowUnauthenticated: true},
		"demo":                  {Demo: true},
	} {
		t.Run(name, func(t *testing.T) {
			sv := serve(t, o, "http", nil)
			r := sv.request(t, http.MethodGet, "/billing.csv")
			if r.code != http.StatusOK || r.header.Get("X-Data-Timestamp") != fixtureTimestamp {
				t.Errorf("%d %v", r.code, r.header)
			}
		})
	}
}

func TestServe_TLSWithSelfSignedCertificate(t *testing.T) {
	dir := t.TempDir()
	roots := selfSignedCert(t, dir)
	cfg := "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n" + basicAuthConfig(t)
	sv := serve(t, Options{WebConfigFile: writeWebConfig(t, dir, cfg)}, "https", roots)

	r := sv.request(t, http.MethodGet, "/billing.csv?month=2026-10", testUser, testPassword)
	if r.code != http.StatusOK {
		t.Fatalf("https with the right password: %d %s", r.code, r.body)
	}
	if r := sv.request(t, http.MethodGet, "/billing.csv"); r.code != http.StatusUnauthorized {
		t.Errorf("https without credentials: %d, want 401", r.code)
	}
	// Plain HTTP to the TLS port gets no data.
	resp, err := http.Get("http://" + strings.TrimPrefix(sv.base, "https://") + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d %s", resp.StatusCode, b)
		}
	}
	// A client that does not trust the certificate fails the handshake.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(sv.base + "/healthz"); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
}

func TestNew_InvalidWebConfigNamesTheFileAndTheProblem(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, problem string }{
		"not a bcrypt hash": {"basic_auth_users:\n  finance: plaintext\n", "hashedSecret too short"},
		"unknown key":       {"basic_auth:\n  finance: x\n", "field basic_auth not found"},
		"missing cert":      {"tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n", "nowhere"},
		"not yaml":          {"basic_auth_users: [\n", "yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{Source: newSource(nil), Metrics: metricsHandler, WebConfigFile: path})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %v, want one naming %s and %q", err, path, tc.problem)
			}
		})
	}
	missing := filepath.Join(dir, "absent.yml")
	if _, err := New(Options{Source: newSource(nil), Metrics: metricsHandler, WebConfigFile: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := New(Options{Metrics: metricsHandler}); err == nil {
		t.Error("no Source accepted")
	}
}

func TestServe_ShutdownFinishesRequestsInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "intercom_up 1\n")
	})
	sv := serve(t, Options{Metrics: slow}, "http", nil)
	got := make(chan response, 1)
	go func() {
		resp, err := sv.client.Get(sv.base + "/metrics")
		if err != nil {
			got <- response{code: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got <- response{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- sv.stop() }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned before the request in flight finished: %v", err)
	default:
	}
	close(release)
	if r := <-got; r.code != http.StatusOK || r.body != "intercom_up 1\n" {
		t.Errorf("request in flight: %d %q", r.code, r.body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if _, err := sv.client.Get(sv.base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestServe_ListenErrorIsReturned(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := New(Options{Source: newSource(nil), Metrics: metricsHandler, ListenAddress: l.Addr().String(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Serve on a taken port: %v", err)
	}
}

// TestLogs_NoTokenOrMemberDataAboveDebug captures every log line of a
// session with member data, failed logins and a failing sync whose error
// quotes the token and a member's email.
func TestLogs_NoTokenOrMemberDataAboveDebug(t *testing.T) {
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	syncer := &fakeSyncer{err: fmt.Errorf("PUT /contacts/c1 (zoe@example.com) with Bearer %s: 500", testToken)}
	dir := t.TempDir()
	sv := serve(t, Options{Logger: logger, Syncer: syncer, WebConfigFile: writeWebConfig(t, dir, basicAuthConfig(t))}, "http", nil)
	for _, path := range []string{"/billing.csv", "/caseload.csv?employer=Acme", "/participants.csv?format=json",
		"/sessions.csv?from=2026-09-01&to=2026-11-10", "/billing.csv?month=2026-01", "/", "/metrics"} {
		sv.request(t, http.MethodGet, path, testUser, testPassword)
		sv.request(t, http.MethodGet, path, testUser, "wrong")
	}
	if r := sv.request(t, http.MethodPost, "/sync", testUser, testPassword); r.code != http.StatusInternalServerError {
		t.Errorf("failing sync: %d %s", r.code, r.body)
	}
	syncer.err = nil
	syncer.sum = engagement.Summary{Mode: engagement.ModeApply, Result: engagement.ResultPartial, Planned: 2, Written: 1, Failed: 1,
		Failures: []engagement.Failure{{ContactID: "c2", Error: "al@example.com: " + testToken}}}
	sv.request(t, http.MethodPost, "/sync", testUser, testPassword)
	if err := sv.stop(); err != nil {
		t.Fatal(err)
	}

	secrets := []string{testToken, testPassword}
	for _, c := range fixtureData().Contacts {
		secrets = append(secrets, c.Email, c.Name, "ext-1", "ext-2")
	}
	secrets = append(secrets, "Adams", "Zoe")
	var debug, above int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["level"] == "DEBUG" {
			debug++
			continue
		}
		above++
		for _, s := range secrets {
			if strings.Contains(line, s) || strings.Contains(line, strings.ReplaceAll(s, "\n", `\n`)) {
				t.Errorf("log line above debug holds %q: %s", s, line)
			}
		}
	}
	if debug == 0 || above == 0 {
		t.Errorf("expected log lines at debug (%d) and above (%d)", debug, above)
	}
	if !strings.Contains(logs.String(), `"msg":"HTTP request"`) {
		t.Error("requests are not logged at debug")
	}
}

// The shipped example must load as is, turn basic auth on, and accept its
// placeholder passwords.
func TestWebConfigExample_IsValidAndTurnsBasicAuthOn(t *testing.T) {
	path := filepath.Join("..", "deploy", "web-config.example.yml")
	sv := serve(t, Options{WebConfigFile: path}, "http", nil)
	if r := sv.request(t, http.MethodGet, "/billing.csv"); r.code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", r.code)
	}
	if r := sv.request(t, http.MethodGet, "/billing.csv", "finance", "change-me-finance"); r.code != http.StatusOK {
		t.Errorf("finance: %d %s", r.code, r.body)
	}
	if r := sv.request(t, http.MethodGet, "/metrics", "prometheus", "change-me-prometheus"); r.code != http.StatusOK ||
		r.header.Get("X-Frame-Options") != "deny" {
		t.Errorf("prometheus: %d %v", r.code, r.header)
	}
}

func TestWebConfigExample_TheDocumentedRoles(t *testing.T) {
	// SYNC_USERS=ops, MEMBER_USERS=finance,grafana, as the example says.
	path := filepath.Join("..", "deploy", "web-config.example.yml")
	// The handler checks the credentials itself (once per user: cached),
	// so exporter-toolkit's own check, cost-10 bcrypt again, is left out.
	h := newTestServer(t, func(o *Options) {
		o.WebConfigFile = path
		o.AllowUnauthenticated = false
		o.SyncUsers = []string{"ops"}
		o.MemberUsers = []string{"finance", "grafana"}
	}).Handler()
	for _, tc := range []struct {
		user                        string
		metrics, billing, json, syn int
	}{
		{"prometheus", 200, 403, 403, 403},
		{"finance", 200, 200, 200, 403},
		{"grafana", 200, 200, 200, 403},
		{"ops", 200, 403, 403, 200},
	} {
		pw := "change-me-" + tc.user
		if r := requestAs(t, h, http.MethodGet, "/metrics", tc.user, pw); r.code != tc.metrics {
			t.Errorf("%s /metrics: %d, want %d", tc.user, r.code, tc.metrics)
		}
		if r := requestAs(t, h, http.MethodGet, "/billing.csv", tc.user, pw); r.code != tc.billing {
			t.Errorf("%s /billing.csv: %d, want %d", tc.user, r.code, tc.billing)
		}
		if r := requestAs(t, h, http.MethodGet, "/caseload.csv?format=json", tc.user, pw); r.code != tc.json {
			t.Errorf("%s /caseload.csv?format=json: %d, want %d", tc.user, r.code, tc.json)
		}
		if r := requestAs(t, h, http.MethodPost, "/sync", tc.user, pw); r.code != tc.syn {
			t.Errorf("%s POST /sync: %d, want %d", tc.user, r.code, tc.syn)
		}
	}
}
