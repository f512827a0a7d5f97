package config

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The variable table of docs/configuration.md and the Config struct's env
// tags must agree: every variable in both, with the same default.
func TestConfigurationDocMatchesCode(t *testing.T) {
	documented := documentedVariables(t, "../docs/configuration.md")
	code := codeVariables()
	if len(code) < 40 {
		t.Fatalf("only %d env tags found in Config: the tag parsing is broken", len(code))
	}
	for _, name := range sortedKeys(code) {
		def, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s is read by the code (default %q) but missing from docs/configuration.md", name, code[name])
		case def != code[name]:
			t.Errorf("%s: docs/configuration.md says default %q, the code %q", name, def, code[name])
		}
	}
	for _, name := range sortedKeys(documented) {
		if _, ok := code[name]; !ok {
			t.Errorf("%s is in docs/configuration.md but the code does not read it", name)
		}
	}
}

// The parser itself: a row with a default, one without, and rows that are
// not variables (header, separator, prose) are told apart.
func TestDocumentedVariablesParsing(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "*.md")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("# x\n\n| variable | default | meaning |\n|---|---|---|\n" +
		"| `A_B` | `0 6 * * *` | cron, with | a pipe |\n| `C` | — | none |\n\nSee `D` too.\n")
	_ = f.Close()
	got := documentedVariables(t, f.Name())
	want := map[string]string{"A_B": "0 6 * * *", "C": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

var rowRE = regexp.MustCompile("^\\|\\s*`([A-Z][A-Z0-9_]*)`\\s*\\|\\s*([^|]*?)\\s*\\|")

// documentedVariables reads the table rows "| `NAME` | `default` | ... |";
// a default of "—" means none ("").
func documentedVariables(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := rowRE.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		name, def := m[1], m[2]
		if _, dup := out[name]; dup {
			t.Errorf("%s: %s is documented twice", path, name)
		}
		switch {
		case def == "—":
			def = ""
		case len(def) >= 2 && strings.HasPrefix(def, "`") && strings.HasSuffix(def, "`"):
			def = def[1 : len(def)-1]
		default:
			t.Errorf("%s: %s: default %q is neither `value` nor —", path, name, def)
		}
		out[name] = def
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// codeVariables reads the env tags of Config: "NAME" or "NAME, default=V"
// (the default takes the rest of the tag, commas included).
func codeVariables() map[string]string {
	out := map[string]string{}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("env")
		if tag == "" || tag == "-" {
			continue
		}
		name, rest, _ := strings.Cut(tag, ",")
		def := ""
		if _, after, ok := strings.Cut(rest, "default="); ok {
			def = after
		}
		out[strings.TrimSpace(name)] = def
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
