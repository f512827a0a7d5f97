// Package deploy holds the deployment files of intercom_exporter (Prometheus rules
// and scrape configuration, systemd, container, compose, Kubernetes). This test
// checks them statically: they parse, what they reference exists, and the rules
// that Kubernetes gets are the ones promtool tests.
package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/coaching/intercom_exporter/daemon"
	"github.com/coaching/intercom_exporter/web"
)

const runbookBase = "https://github.com/coaching/intercom_exporter/blob/main/docs/operations.md#runbook-"

// docs reads a YAML file as its documents (maps are map[string]any).
func docs(t *testing.T, path string) []any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out []any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for i := 0; ; i++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// doc reads a single-document YAML file as a map.
func doc(t *testing.T, path string) map[string]any {
	t.Helper()
	d := docs(t, path)
	if len(d) != 1 {
		t.Fatalf("%s: want exactly one YAML document, got %d", path, len(d))
	}
	m, ok := d[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is %T, want a mapping", path, d[0])
	}
	return m
}

// get walks a decoded document: keys for maps, ints for lists.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func exists(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: %v", why, err)
	}
}

func TestYAMLFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yml" || ext == ".yaml" {
			n++
			for i, v := range docs(t, path) {
				if _, ok := v.(map[string]any); !ok {
					t.Errorf("%s: document %d is %T, want a mapping", path, i, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("found only %d YAML files under deploy/", n)
	}
}

// ---------------------------------------------------------------- Prometheus

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

func alertGroups(t *testing.T) []ruleGroup {
	t.Helper()
	var g struct {
		Groups []ruleGroup `json:"groups"`
	}
	remarshal(t, doc(t, "prometheus/alerts.yml"), &g)
	if len(g.Groups) == 0 {
		t.Fatal("prometheus/alerts.yml has no groups")
	}
	return g.Groups
}

func remarshal(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(out); err != nil {
		t.Fatal(err)
	}
}

func TestAlertsFollowConventions(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range alertGroups(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue // recording rule
			}
			t.Run(r.Alert, func(t *testing.T) {
				if seen[r.Alert] {
					t.Errorf("duplicate alert name")
				}
				seen[r.Alert] = true
				if r.For == "" {
					t.Errorf("no `for`")
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
					t.Errorf("severity %q, want critical, warning or info", s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("no %s annotation", a)
					}
				}
				if want := runbookBase + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
					t.Errorf("runbook_url %q, want %q", r.Annotations["runbook_url"], want)
				}
				if regexp.MustCompile(`vector\s*\(`).MatchString(r.Expr) {
					t.Errorf("expr uses vector(): missing data must not turn into a number")
				}
			})
		}
	}
	if len(seen) < 8 {
		t.Errorf("only %d alerts", len(seen))
	}
}

// Every alert has a firing and a not-firing case in alerts_test.yml.
func TestAlertsHaveFiringAndQuietTests(t *testing.T) {
	var tf struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Name  string `json:"name"`
			Cases []struct {
				Alert     string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	remarshal(t, doc(t, "prometheus/alerts_test.yml"), &tf)
	for _, f := range tf.RuleFiles {
		exists(t, filepath.Join("prometheus", f), "alerts_test.yml rule_files")
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				firing[c.Alert] = true
			} else {
				quiet[c.Alert] = true
			}
		}
	}
	for _, g := range alertGroups(t) {
		for _, r := range g.Rules {
			if r.Alert != "" && (!firing[r.Alert] || !quiet[r.Alert]) {
				t.Errorf("%s: firing case %v, not-firing case %v in alerts_test.yml", r.Alert, firing[r.Alert], quiet[r.Alert])
			}
		}
	}
}

// The PrometheusRule is generated from alerts.yml (scripts/gen-prometheusrule.sh).
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	pr := doc(t, "kubernetes/prometheusrule.yaml")
	if str(pr, "kind") != "PrometheusRule" || str(pr, "apiVersion") != "monitoring.coreos.com/v1" {
		t.Errorf("prometheusrule.yaml is %s %s", str(pr, "apiVersion"), str(pr, "kind"))
	}
	want := doc(t, "prometheus/alerts.yml")["groups"]
	got := get(pr, "spec", "groups")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kubernetes/prometheusrule.yaml spec.groups differ from prometheus/alerts.yml groups: run scripts/gen-prometheusrule.sh")
	}
}

func TestPrometheusConfig(t *testing.T) {
	cfg := doc(t, "prometheus/prometheus.yml")
	for _, f := range list(cfg, "rule_files") {
		exists(t, filepath.Join("prometheus", f.(string)), "prometheus.yml rule_files")
	}
	if !hasJob(cfg, "intercom_exporter", "") {
		t.Errorf("prometheus/prometheus.yml: no scrape job intercom_exporter")
	}
}

func hasJob(cfg any, job, target string) bool {
	for _, sc := range list(cfg, "scrape_configs") {
		if str(sc, "job_name") != job {
			continue
		}
		if target == "" {
			return true
		}
		for _, st := range list(sc, "static_configs") {
			for _, tg := range list(st, "targets") {
				if tg == target {
					return true
				}
			}
		}
	}
	return false
}

// Runs promtool's static checks when it is installed. The rule unit tests
// (promtool test rules, ~10s) run in scripts/promtool-rules.sh, which CI runs.
func TestPromtoolCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"check", "config", "--syntax-only", "../compose/prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// ---------------------------------------------------------------- compose

func TestComposeReferencesExist(t *testing.T) {
	c := doc(t, "compose/compose.yaml")
	services, _ := c["services"].(map[string]any)
	for _, name := range []string{"exporter", "prometheus", "grafana"} {
		if services[name] == nil {
			t.Errorf("compose.yaml: no service %q", name)
		}
	}
	named, _ := c["volumes"].(map[string]any)
	for name, svc := range services {
		if ctx := str(svc, "build", "context"); ctx != "" {
			dir := filepath.Join("compose", ctx)
			exists(t, dir, name+" build context")
			exists(t, filepath.Join(dir, str(svc, "build", "dockerfile")), name+" dockerfile")
		}
		for _, v := range list(svc, "volumes") {
			src, _, _ := strings.Cut(v.(string), ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				exists(t, filepath.Join("compose", src), name+" mount")
			} else if _, ok := named[src]; !ok {
				t.Errorf("%s: volume %q is not declared", name, src)
			}
		}
	}
	if cmd := list(services["exporter"], "command"); !slices.Contains(cmd, any("-demo")) {
		t.Errorf("compose exporter command %v, want -demo", cmd)
	}
}

// mountTarget returns the container path where a service mounts src.
func mountTarget(t *testing.T, svc any, src string) string {
	for _, v := range list(svc, "volumes") {
		parts := strings.Split(v.(string), ":")
		if len(parts) >= 2 && filepath.Clean(parts[0]) == filepath.Clean(src) {
			return parts[1]
		}
	}
	t.Fatalf("no mount of %s", src)
	return ""
}

func TestComposePrometheusAndGrafanaWiring(t *testing.T) {
	c := doc(t, "compose/compose.yaml")
	prom := get(c, "services", "prometheus")
	cfgTarget := mountTarget(t, prom, "./prometheus.yml")
	if !slices.Contains(list(prom, "command"), any("--config.file="+cfgTarget)) {
		t.Errorf("prometheus does not run with --config.file=%s", cfgTarget)
	}
	rulesDir := mountTarget(t, prom, "../prometheus")
	pcfg := doc(t, "compose/prometheus.yml")
	if !hasJob(pcfg, "intercom_exporter", "exporter:8469") {
		t.Errorf("compose/prometheus.yml does not scrape exporter:8469 as job intercom_exporter")
	}
	for _, f := range list(pcfg, "rule_files") {
		rel, err := filepath.Rel(rulesDir, f.(string))
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("rule file %s is not under the mounted %s", f, rulesDir)
			continue
		}
		exists(t, filepath.Join("prometheus", rel), "compose rule_files")
	}

	graf := get(c, "services", "grafana")
	provDir := mountTarget(t, graf, "./grafana/provisioning")
	if provDir != "/etc/grafana/provisioning" {
		t.Errorf("grafana provisioning mounted at %s", provDir)
	}
	ds := doc(t, "compose/grafana/provisioning/datasources/prometheus.yml")
	if str(ds, "datasources", 0, "uid") != "prometheus" || str(ds, "datasources", 0, "type") != "prometheus" {
		t.Errorf("data source: uid %q type %q, want prometheus/prometheus", str(ds, "datasources", 0, "uid"), str(ds, "datasources", 0, "type"))
	}
	if u := str(ds, "datasources", 0, "url"); u != "http://prometheus:9090" {
		t.Errorf("data source url %q", u)
	}
	dashDir := mountTarget(t, graf, "../../dashboards")
	dp := doc(t, "compose/grafana/provisioning/dashboards/dashboards.yml")
	if p := str(dp, "providers", 0, "options", "path"); p != dashDir {
		t.Errorf("dashboard provider path %q, but ../../dashboards is mounted at %q", p, dashDir)
	}
	if home := str(graf, "environment", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home != "" {
		rel, _ := filepath.Rel(dashDir, home)
		exists(t, filepath.Join("..", "dashboards", rel), "grafana home dashboard")
	}
	jsons, _ := filepath.Glob("../dashboards/*.json")
	if len(jsons) == 0 {
		t.Errorf("no dashboards in ../dashboards")
	}
}

// ---------------------------------------------------------------- Dockerfile

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	args := map[string]string{}
	type stage struct{ image, name string }
	var stages []stage
	var final []string // instructions of the last stage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok && len(stages) == 0 {
				args[k] = v
			}
		case "FROM":
			f := strings.Fields(rest)
			img := os.Expand(f[0], func(k string) string { return args[k] })
			s := stage{image: img}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			final = nil
		case "COPY":
			if m := regexp.MustCompile(`--from=(\S+)`).FindStringSubmatch(rest); m != nil {
				if !slices.ContainsFunc(stages[:len(stages)-1], func(s stage) bool { return s.name == m[1] }) {
					t.Errorf("COPY --from=%s: no earlier stage of that name", m[1])
				}
			} else {
				// Sources are relative to the build context, the repository root.
				f := strings.Fields(rest)
				for _, src := range f[:len(f)-1] {
					if !strings.HasPrefix(src, "--") && src != "." {
						exists(t, filepath.Join("..", src), "COPY source")
					}
				}
			}
		}
		final = append(final, l)
	}
	if len(stages) != 2 {
		t.Fatalf("want a build stage and a final stage, got %v", stages)
	}
	if stages[0].image != "golang:1.26" || stages[0].name == "" {
		t.Errorf("build stage %+v, want golang:1.26 AS <name>", stages[0])
	}
	if stages[1].image != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage %s, want gcr.io/distroless/static-debian12:nonroot", stages[1].image)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags", "github.com/prometheus/common/version.Version=", " -o /out/intercom_exporter ."} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	joined := strings.Join(final, "\n")
	for _, re := range []string{`(?m)^USER (65532|nonroot)`, `(?m)^ENTRYPOINT \["/usr/local/bin/intercom_exporter"\]`, `(?m)^EXPOSE 8469$`} {
		if !regexp.MustCompile(re).MatchString(joined) {
			t.Errorf("final stage lacks %s", re)
		}
	}
	exists(t, "../.dockerignore", ".dockerignore")
}

// ---------------------------------------------------------------- systemd

func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("systemd/intercom_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(l, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, v := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "StateDirectory": "intercom_exporter",
		"EnvironmentFile": "/etc/intercom_exporter/env", "Restart": "on-failure",
		"ExecStart": "/usr/local/bin/intercom_exporter",
	} {
		if !slices.Contains(set[k], v) {
			t.Errorf("%s=%s missing (have %v)", k, v, set[k])
		}
	}
	if !slices.Contains(set["Environment"], "STATE_DIR=/var/lib/intercom_exporter") {
		t.Errorf("STATE_DIR is not the StateDirectory")
	}
}

// No example file carries anything but the placeholder token.
func TestExamplesHaveNoToken(t *testing.T) {
	env, err := os.ReadFile("systemd/intercom_exporter.env.example")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^INTERCOM_ACCESS_TOKEN=(.*)$`).FindSubmatch(env)
	if m == nil || string(m[1]) != "REPLACE_WITH_YOUR_TOKEN" {
		t.Errorf("env example: INTERCOM_ACCESS_TOKEN must be the placeholder, got %q", m)
	}
	sec := doc(t, "kubernetes/secret.example.yaml")
	if v := str(sec, "stringData", "INTERCOM_ACCESS_TOKEN"); v != "REPLACE_WITH_YOUR_TOKEN" {
		t.Errorf("secret example token %q, want the placeholder", v)
	}
	if get(sec, "data") != nil {
		t.Errorf("secret example has data:, use stringData with the placeholder")
	}
}

// ---------------------------------------------------------------- Kubernetes

func TestKubernetesDeployment(t *testing.T) {
	d := doc(t, "kubernetes/deployment.yaml")
	if r, ok := get(d, "spec", "replicas").(int); !ok || r != 1 {
		t.Errorf("replicas %v, want 1: only one instance may run the sync", get(d, "spec", "replicas"))
	}
	if s := str(d, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("strategy %q, want Recreate: never two sync runners during a rollout", s)
	}
	pod := get(d, "spec", "template", "spec")
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	c := get(pod, "containers", 0)
	sc := get(c, "securityContext")
	if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false {
		t.Errorf("container securityContext %v", sc)
	}
	if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
		t.Errorf("capabilities.drop lacks ALL")
	}
	if str(c, "ports", 0, "name") != "http-metrics" || get(c, "ports", 0, "containerPort") != 8469 {
		t.Errorf("container port %v, want 8469 named http-metrics", get(c, "ports", 0))
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if p := str(c, probe, "httpGet", "path"); p != path {
			t.Errorf("%s path %q, want %q", probe, p, path)
		}
	}
	env := map[string]any{}
	for _, e := range list(c, "env") {
		env[str(e, "name")] = e
	}
	tok := env["INTERCOM_ACCESS_TOKEN"]
	if get(tok, "value") != nil || str(tok, "valueFrom", "secretKeyRef", "key") != "INTERCOM_ACCESS_TOKEN" {
		t.Errorf("INTERCOM_ACCESS_TOKEN must come from a secretKeyRef, got %v", tok)
	}
	secret := str(tok, "valueFrom", "secretKeyRef", "name")
	if s := str(doc(t, "kubernetes/secret.example.yaml"), "metadata", "name"); s != secret {
		t.Errorf("secretKeyRef names %q, the example Secret is %q", secret, s)
	}
	stateDir := str(env["STATE_DIR"], "value")
	mounted := false
	for _, m := range list(c, "volumeMounts") {
		if str(m, "mountPath") == stateDir {
			mounted = true
		}
	}
	if stateDir == "" || !mounted {
		t.Errorf("STATE_DIR %q is not a mounted volume (the root filesystem is read-only)", stateDir)
	}
	if m := str(env["SYNC_MODE"], "value"); m == "" {
		t.Errorf("SYNC_MODE is not set explicitly")
	}
}

func TestKubernetesServiceAndMonitor(t *testing.T) {
	d := doc(t, "kubernetes/deployment.yaml")
	podLabels, _ := get(d, "spec", "template", "metadata", "labels").(map[string]any)
	svc := doc(t, "kubernetes/service.yaml")
	for k, v := range get(svc, "spec", "selector").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("service selector %s=%v does not match the pod labels %v", k, v, podLabels)
		}
	}
	if str(svc, "spec", "ports", 0, "name") != "http-metrics" || get(svc, "spec", "ports", 0, "port") != 8469 {
		t.Errorf("service port %v, want 8469 named http-metrics", get(svc, "spec", "ports", 0))
	}
	sm := doc(t, "kubernetes/servicemonitor.yaml")
	svcLabels, _ := get(svc, "metadata", "labels").(map[string]any)
	for k, v := range get(sm, "spec", "selector", "matchLabels").(map[string]any) {
		if svcLabels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, the Service has %v", k, v, svcLabels)
		}
	}
	ep := get(sm, "spec", "endpoints", 0)
	if str(ep, "port") != "http-metrics" {
		t.Errorf("ServiceMonitor port %q", str(ep, "port"))
	}
	jobSet := false
	for _, r := range list(ep, "relabelings") {
		if str(r, "targetLabel") == "job" && str(r, "replacement") == "intercom_exporter" {
			jobSet = true
		}
	}
	if !jobSet {
		t.Errorf("ServiceMonitor does not set job=intercom_exporter, which the alerts and dashboards use")
	}
}

func TestKustomization(t *testing.T) {
	k := doc(t, "kubernetes/kustomization.yaml")
	var listed []string
	for _, r := range list(k, "resources") {
		listed = append(listed, r.(string))
		exists(t, filepath.Join("kubernetes", r.(string)), "kustomization resource")
	}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	var want []string
	for _, f := range files {
		b := filepath.Base(f)
		if b != "kustomization.yaml" && !strings.Contains(b, ".example.") {
			want = append(want, b)
		}
	}
	sort.Strings(listed)
	sort.Strings(want)
	if !slices.Equal(listed, want) {
		t.Errorf("kustomization resources %v, want every manifest %v", listed, want)
	}
	// The image the Deployment names is the one kustomize rewrites.
	img := str(doc(t, "kubernetes/deployment.yaml"), "spec", "template", "spec", "containers", 0, "image")
	if str(k, "images", 0, "name") != img {
		t.Errorf("kustomization images[0].name %q, deployment image %q", str(k, "images", 0, "name"), img)
	}
}

// ---------------------------------------------------------------- the stop

// wholeStop is the longest a stop after SIGTERM takes: its phases run one
// after the other (cancelling a sync is part of the HTTP drain, which waits
// for the POST /sync that answers with its summary).
var wholeStop = web.ShutdownTimeout + daemon.StopTimeout + daemon.SaveTimeout

// systemd and Kubernetes leave the whole stop time before SIGKILL, with a
// margin, so that SIGKILL never races the last save of the state.
func TestStopTimeoutsLeaveTimeForTheWholeStop(t *testing.T) {
	raw, err := os.ReadFile("systemd/intercom_exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("systemd unit: TimeoutStopSec is not set")
	}
	stop, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", m[1], err)
	}
	if stop <= wholeStop {
		t.Errorf("TimeoutStopSec=%s, want more than the whole stop (%s)", stop, wholeStop)
	}
	d := doc(t, "kubernetes/deployment.yaml")
	grace, ok := get(d, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if !ok {
		t.Fatal("deployment: terminationGracePeriodSeconds is not set (Kubernetes' 30s default is shorter than the stop)")
	}
	if g := time.Duration(grace) * time.Second; g <= wholeStop {
		t.Errorf("terminationGracePeriodSeconds %s, want more than the whole stop (%s)", g, wholeStop)
	}
}
