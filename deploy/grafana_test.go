package deploy

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// The dashboards' member tables read the exporter through Grafana's
// Infinity data source, as a basic-auth user that may read member data but
// not write (docs/dashboards.md).

const infinityPlugin = "yesoreyeram-infinity-datasource"

// webUsers reads the basic-auth users of an exporter-toolkit web
// configuration, which must be valid as the exporter reads it.
func webUsers(t *testing.T, path string) map[string]string {
	t.Helper()
	if err := web.Validate(path); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	users := map[string]string{}
	for k, v := range get(doc(t, path), "basic_auth_users").(map[string]any) {
		users[k] = v.(string)
	}
	return users
}

func roles(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// checkReadOnlyUser checks that user may read member data and not write.
func checkReadOnlyUser(t *testing.T, where, user, memberUsers, syncUsers string, users map[string]string) {
	t.Helper()
	if _, ok := users[user]; !ok {
		t.Errorf("%s: user %q is not among the basic_auth_users", where, user)
	}
	if !slices.Contains(roles(memberUsers), user) {
		t.Errorf("%s: user %q is not in MEMBER_USERS %q", where, user, memberUsers)
	}
	if syncUsers == "" || slices.Contains(roles(syncUsers), user) {
		t.Errorf("%s: SYNC_USERS %q must be set and leave out %q (unset, every user may write)", where, syncUsers, user)
	}
	for _, u := range append(roles(memberUsers), roles(syncUsers)...) {
		if _, ok := users[u]; !ok {
			t.Errorf("%s: role user %q is not among the basic_auth_users", where, u)
		}
	}
}

// checkInfinity checks one provisioned Infinity data source against the
// exporter's address and returns its user.
func checkInfinity(t *testing.T, where string, ds any, exporterURL string) string {
	t.Helper()
	if str(ds, "type") != infinityPlugin {
		t.Errorf("%s: type %q, want %s", where, str(ds, "type"), infinityPlugin)
	}
	if u := str(ds, "url"); u != exporterURL {
		t.Errorf("%s: url %q, want the exporter at %q (the dashboards' queries are paths)", where, u, exporterURL)
	}
	if !slices.Contains(list(ds, "jsonData", "allowedHosts"), any(exporterURL)) {
		t.Errorf("%s: allowedHosts %v lacks %s: the plugin sends credentials to allowed hosts only", where, list(ds, "jsonData", "allowedHosts"), exporterURL)
	}
	if get(ds, "basicAuth") != true || str(ds, "jsonData", "auth_method") != "basicAuth" {
		t.Errorf("%s: basic auth is not on (basicAuth %v, auth_method %q)", where, get(ds, "basicAuth"), str(ds, "jsonData", "auth_method"))
	}
	if str(ds, "secureJsonData", "basicAuthPassword") == "" {
		t.Errorf("%s: no basicAuthPassword in secureJsonData", where)
	}
	return str(ds, "basicAuthUser")
}

func TestComposeInfinityDataSource(t *testing.T) {
	c := doc(t, "compose/compose.yaml")
	exp, graf := get(c, "services", "exporter"), get(c, "services", "grafana")

	// The exporter reads the mounted web configuration.
	webTarget := mountTarget(t, exp, "./web-config.yml")
	if w := str(exp, "environment", "WEB_CONFIG_FILE"); w != webTarget {
		t.Errorf("exporter WEB_CONFIG_FILE %q, but ./web-config.yml is mounted at %q", w, webTarget)
	}
	users := webUsers(t, "compose/web-config.yml")
	port := strings.TrimPrefix(str(exp, "environment", "LISTEN_ADDRESS"), ":")
	exporterURL := "http://exporter:" + port

	ds := doc(t, "compose/grafana/provisioning/datasources/infinity.yml")
	src := get(ds, "datasources", 0)
	user := checkInfinity(t, "compose infinity.yml", src, exporterURL)
	checkReadOnlyUser(t, "compose", user, str(exp, "environment", "MEMBER_USERS"), str(exp, "environment", "SYNC_USERS"), users)

	// Grafana installs the plugin and knows the password, which is the
	// user's (demo) password.
	if p := str(graf, "environment", "GF_INSTALL_PLUGINS"); !strings.Contains(p, infinityPlugin) {
		t.Errorf("grafana GF_INSTALL_PLUGINS %q lacks %s", p, infinityPlugin)
	}
	pw := str(src, "secureJsonData", "basicAuthPassword")
	if strings.HasPrefix(pw, "$") {
		pw = str(graf, "environment", strings.Trim(pw, "${}"))
	}
	if err := bcrypt.CompareHashAndPassword([]byte(users[user]), []byte(pw)); err != nil {
		t.Errorf("the data source's password is not user %q's: %v", user, err)
	}

	// Prometheus scrapes as a user of the web configuration, in no role.
	pcfg := doc(t, "compose/prometheus.yml")
	var scrape any
	for _, j := range list(pcfg, "scrape_configs") {
		if str(j, "job_name") == "intercom_exporter" {
			scrape = j
		}
	}
	pu, ppw := str(scrape, "basic_auth", "username"), str(scrape, "basic_auth", "password")
	if err := bcrypt.CompareHashAndPassword([]byte(users[pu]), []byte(ppw)); err != nil {
		t.Errorf("Prometheus scrapes as %q with a password that is not its: %v", pu, err)
	}
	for _, role := range []string{"MEMBER_USERS", "SYNC_USERS"} {
		if slices.Contains(roles(str(exp, "environment", role)), pu) {
			t.Errorf("the scrape user %q is in %s: it needs no member data", pu, role)
		}
	}
}

func TestKubernetesInfinityDataSource(t *testing.T) {
	sec := doc(t, "kubernetes/grafana-datasource.example.yaml")
	if str(sec, "kind") != "Secret" || str(sec, "metadata", "labels", "grafana_datasource") != "1" {
		t.Errorf("want a Secret labelled grafana_datasource: \"1\" (the Grafana chart's sidecar), got %v %v", str(sec, "kind"), get(sec, "metadata", "labels"))
	}
	var prov map[string]any
	if err := yaml.Unmarshal([]byte(str(sec, "stringData", "infinity.yaml")), &prov); err != nil {
		t.Fatalf("infinity.yaml: %v", err)
	}
	ds := get(prov, "datasources", 0)
	svc := doc(t, "kubernetes/service.yaml")
	u, err := url.Parse(str(ds, "url"))
	if err != nil {
		t.Fatal(err)
	}
	wantHost := str(svc, "metadata", "name") + "."
	if !strings.HasPrefix(u.Hostname(), wantHost) || u.Port() != "8469" {
		t.Errorf("url %q is not the Service %s on port 8469", u, str(svc, "metadata", "name"))
	}
	user := checkInfinity(t, "kubernetes infinity.yaml", ds, str(ds, "url"))
	if pw := str(ds, "secureJsonData", "basicAuthPassword"); !strings.HasPrefix(pw, "REPLACE_") {
		t.Errorf("the example carries a password %q, want a placeholder", pw)
	}
	// The roles are commented out in the Deployment (the exporter refuses
	// roles while basic auth is off): check the values the comments show.
	env := commentedEnv(t, "kubernetes/deployment.yaml")
	checkReadOnlyUser(t, "kubernetes", user, env["MEMBER_USERS"], env["SYNC_USERS"], webUsers(t, "web-config.example.yml"))
}

// commentedEnv reads "# - name: X" / "#   value: Y" pairs from a file.
func commentedEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	name := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "# - name: "); ok {
			name = v
		} else if v, ok := strings.CutPrefix(line, "#   value: "); ok && name != "" {
			env[name], name = v, ""
		}
	}
	return env
}
