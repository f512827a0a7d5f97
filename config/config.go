// Package config reads the exporter's configuration from the environment
// (docs/configuration.md) into one typed struct and validates all of it in one
// pass, so that a bad start-up lists every problem at once and never echoes
// a secret.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.yaml.in/yaml/v2"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// DefaultListenAddress is outside 9100-9999, the range taken by public
// exporters (docs/configuration.md).
const DefaultListenAddress = ":8469"

// Config is every setting of the exporter. The env tags are the contract:
// variable names and their defaults as docs/configuration.md documents them.
type Config struct {
	// Rules (docs/reports.md).
	Timezone               string   `env:"TIMEZONE, default=UTC"`
	ChannelAttribute       string   `env:"CHANNEL_ATTRIBUTE, default=Channel"`
	SessionChannels        []string `env:"SESSION_CHANNELS, default=Phone,Video Conference,Email,Chat"`
	CallChannels           []string `env:"CALL_CHANNELS, default=Phone,Video Conference"`
	MemberCoach            string   `env:"MEMBER_COACH, default=owner"`
	EmployerAttribute      string   `env:"EMPLOYER_ATTRIBUTE, default=Employer"`
	RegistrationAttributes []string `env:"REGISTRATION_ATTRIBUTES, default=Registration Date,Enrolled Date"`
	LastCallAttribute      string   `env:"LAST_CALL_ATTRIBUTE, default=Last Coaching Call"`
	StatusAttribute        string   `env:"STATUS_ATTRIBUTE, default=Engagement Status"`
	LookbackDays           int      `env:"LOOKBACK_DAYS, default=365"`
	EngagedDays            int      `env:"ENGAGED_DAYS, default=28"`
	AtRiskDays             int      `env:"AT_RISK_DAYS, default=56"`
	BillingEngagedDays     int      `env:"BILLING_ENGAGED_DAYS, default=56"`
	BillingFreezeDays      int      `env:"BILLING_FREEZE_DAYS, default=5"`

	// Metrics and access (docs/metrics.md and docs/endpoints.md).
	MaxSeriesPerFamily   int  `env:"MAX_SERIES_PER_FAMILY, default=10000"`
	AllowUnauthenticated bool `env:"ALLOW_UNAUTHENTICATED, default=false"`
	// Roles (docs/access.md): basic auth user names that may write
	// (POST /sync) and read member data; unset, every authenticated user
	// may do both.
	SyncUsers   []string `env:"SYNC_USERS"`
	MemberUsers []string `env:"MEMBER_USERS"`

	// Engagement sync (docs/sync.md).
	SyncSchedule    string `env:"SYNC_SCHEDULE, default=0 6 * * *"`
	SyncMode        string `env:"SYNC_MODE, default=dry-run"`
	SyncMaxWrites   int    `env:"SYNC_MAX_WRITES, default=5000"`
	SyncConcurrency int    `env:"SYNC_CONCURRENCY, default=4"`

	// Intercom (docs/intercom.md and docs/configuration.md).
	AccessToken Secret `env:"INTERCOM_ACCESS_TOKEN"`
	Version     string `env:"INTERCOM_VERSION, default=2.10"`
	APIBase     string `env:"INTERCOM_API_BASE, default=https://api.intercom.io"`

	// Intercom client behaviour: explicit settings, not hidden constants.
	RequestTimeout   time.Duration `env:"REQUEST_TIMEOUT, default=30s"`
	RetryMaxAttempts int           `env:"RETRY_MAX_ATTEMPTS, default=5"`
	RetryBackoff     time.Duration `env:"RETRY_BACKOFF, default=500ms"`
	RetryMaxBackoff  time.Duration `env:"RETRY_MAX_BACKOFF, default=30s"`

	// Daemon.
	ListenAddress string `env:"LISTEN_ADDRESS, default=:8469"`
	WebConfigFile string `env:"WEB_CONFIG_FILE"`
	// RefreshInterval is how often the conversations that changed are read
	// (docs/freshness.md); SlowRefreshInterval how often the contacts,
	// admins and data attributes that changed are too, with deletions
	// looked for.
	RefreshInterval     time.Duration `env:"REFRESH_INTERVAL, default=1m"`
	SlowRefreshInterval time.Duration `env:"SLOW_REFRESH_INTERVAL, default=15m"`
	// RefreshTimeout bounds one incremental refresh, FullRefreshTimeout
	// one full read (which may take long at a low rate limit).
	RefreshTimeout     time.Duration `env:"REFRESH_TIMEOUT, default=5m"`
	FullRefreshTimeout time.Duration `env:"FULL_REFRESH_TIMEOUT, default=2h"`
	// IncrementalOverlap is how far before the previous read an incremental
	// read starts again: it covers the lag of Intercom's search index.
	IncrementalOverlap time.Duration `env:"INCREMENTAL_OVERLAP, default=5m"`
	// FullRefreshInterval is how often a refresh reads everything (which
	// catches deletions and merges) instead of only what changed since the
	// last one; 0 makes every refresh a full read.
	FullRefreshInterval time.Duration `env:"FULL_REFRESH_INTERVAL, default=24h"`
	// RefreshConcurrency bounds the Intercom requests a refresh has in
	// flight: large searches are split into updated_at ranges read at once.
	// The rate limiter, shared by all of them, is what bounds the rate.
	RefreshConcurrency int    `env:"REFRESH_CONCURRENCY, default=32"`
	StateDir           string `env:"STATE_DIR"`
	LogLevel           string `env:"LOG_LEVEL, default=info"`
	LogFormat          string `env:"LOG_FORMAT, default=logfmt"`

	// Demo (docs/development.md).
	Demo                bool   `env:"DEMO, default=false"`
	DemoIntercomAddress string `env:"DEMO_INTERCOM_ADDRESS"`
	DemoParticipants    int    `env:"DEMO_PARTICIPANTS, default=2000"`
	DemoConversations   int    `env:"DEMO_CONVERSATIONS, default=20000"`
	DemoCoaches         int    `env:"DEMO_COACHES, default=12"`
	DemoEmployers       int    `env:"DEMO_EMPLOYERS, default=25"`
	DemoSeed            int64  `env:"DEMO_SEED, default=1"`

	// location is TIMEZONE loaded; set by Load.
	location *time.Location
}

// Location is TIMEZONE as a location (UTC before Load has validated it).
func (c *Config) Location() *time.Location {
	if c.location == nil {
		return time.UTC
	}
	return c.location
}

// Secret is a value that is never printed: every fmt verb, slog and JSON
// show it redacted. Reveal gives the value to the one place that needs it.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format redacts the secret for every fmt verb (%d or %x would otherwise
// print the underlying string).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON, YAML and the like.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Sync modes (engagement.Mode spellings).
const (
	SyncOff    = string(engagement.ModeOff)
	SyncDryRun = string(engagement.ModeDryRun)
	SyncApply  = string(engagement.ModeApply)
)

// Load reads and validates the configuration from l. On any problem it
// returns one error listing every problem found; no error contains a
// secret's value.
func Load(ctx context.Context, env envconfig.Lookuper) (*Config, error) {
	// An empty variable counts as unset, so its default applies.
	l := envconfig.LookuperFunc(func(key string) (string, bool) {
		v, ok := env.Lookup(key)
		if !ok || strings.TrimSpace(v) == "" {
			return "", false
		}
		return v, true
	})

	// go-envconfig stops at the first value it cannot parse. Decode each
	// variable on its own first, so every unparsable one is reported, then
	// decode the whole struct with the bad ones left at their defaults.
	var errs []error
	bad := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("env")
		if tag == "" || tag == "-" {
			continue
		}
		key := strings.TrimSpace(strings.SplitN(tag, ",", 2)[0])
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: f.Name, Type: f.Type, Tag: f.Tag}}))
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: one.Interface(), Lookuper: l}); err != nil {
			bad[key] = true
			errs = append(errs, fmt.Errorf("%s: %s", key, parseProblem(f.Type, err)))
		}
	}
	c := &Config{}
	masked := envconfig.LookuperFunc(func(key string) (string, bool) {
		if bad[key] {
			return "", false
		}
		return l.Lookup(key)
	})
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: c, Lookuper: masked}); err != nil {
		// Cannot happen once every field decoded on its own; never hide it.
		errs = append(errs, fmt.Errorf("reading the environment: %w", err))
	}
	c.normalise()
	errs = append(errs, c.validate(bad)...)
	if len(errs) > 0 {
		return nil, &Error{Problems: errs}
	}
	return c, nil
}

// parseProblem says why a value could not be read, in words, by the type
// wanted. It never quotes the value of a secret (secrets are plain strings
// and cannot fail to parse, but the rule is kept simple: only the type).
func parseProblem(t reflect.Type, err error) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "not a duration (use a number with a unit, like 30s, 15m or 1h)"
	case t.Kind() == reflect.Bool:
		return "not a boolean (use true or false)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "not a whole number"
	}
	return err.Error()
}

// Error is an invalid configuration: every problem found.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid configuration (1 problem):")
	} else {
		fmt.Fprintf(&b, "invalid configuration (%d problems):", len(e.Problems))
	}
	for _, p := range e.Problems {
		for i, line := range strings.Split(p.Error(), "\n") {
			if i == 0 {
				b.WriteString("\n  - ")
			} else {
				b.WriteString("\n    ")
			}
			b.WriteString(line)
		}
	}
	return b.String()
}

// Unwrap gives the problems to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// normalise trims list items and drops empty ones.
func (c *Config) normalise() {
	c.SessionChannels = trimList(c.SessionChannels)
	c.CallChannels = trimList(c.CallChannels)
	c.RegistrationAttributes = trimList(c.RegistrationAttributes)
	if c.SyncUsers != nil {
		c.SyncUsers = trimList(c.SyncUsers)
	}
	if c.MemberUsers != nil {
		c.MemberUsers = trimList(c.MemberUsers)
	}
	for _, p := range []*string{&c.Timezone, &c.ChannelAttribute, &c.MemberCoach, &c.EmployerAttribute,
		&c.LastCallAttribute, &c.StatusAttribute, &c.SyncSchedule, &c.SyncMode, &c.Version, &c.APIBase,
		&c.ListenAddress, &c.WebConfigFile, &c.StateDir, &c.LogLevel, &c.LogFormat, &c.DemoIntercomAddress} {
		*p = strings.TrimSpace(*p)
	}
	c.SyncMode = strings.ToLower(c.SyncMode)
	c.MemberCoach = strings.ToLower(c.MemberCoach)
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)
}

func trimList(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// TokenHelp says how to get a token and which scopes it needs.
const TokenHelp = "INTERCOM_ACCESS_TOKEN is not set. Create one in the Intercom Developer Hub " +
	"(https://app.intercom.com/a/apps/_/developer-hub): your app → Authentication → Access token, " +
	"with the scopes: read contacts, write contacts (for the engagement sync), read conversations, " +
	"read admins, read data attributes. Or run with -demo (DEMO=true) to try the exporter on generated data"

// validate checks every setting; bad lists the variables that could not be
// parsed at all (already reported, so not checked again).
func (c *Config) validate(bad map[string]bool) []error {
	var errs []error
	add := func(key, format string, a ...any) {
		if !bad[key] {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
		}
	}

	loc, err := time.LoadLocation(c.Timezone)
	switch {
	case c.Timezone == "":
		add("TIMEZONE", "empty; use an IANA name such as Europe/London or UTC")
	case c.Timezone == "Local":
		// The machine's zone would change the rules with the host.
		add("TIMEZONE", "%q is the machine's zone, not an IANA timezone name; name the zone (such as Europe/London or UTC)", c.Timezone)
	case err != nil:
		add("TIMEZONE", "%q is not an IANA timezone name (such as Europe/London or UTC)", c.Timezone)
	default:
		c.location = loc
	}
	// The rules' own checks; the timezone is reported above.
	ec := c.Engagement()
	if err := ec.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var se *engagement.SettingError
			if errors.As(e, &se) && (bad[se.Setting] || se.Setting == "TIMEZONE") {
				continue
			}
			errs = append(errs, e)
		}
	}
	for _, a := range []struct{ key, value string }{
		{"CHANNEL_ATTRIBUTE", c.ChannelAttribute}, {"EMPLOYER_ATTRIBUTE", c.EmployerAttribute},
		{"LAST_CALL_ATTRIBUTE", c.LastCallAttribute}, {"STATUS_ATTRIBUTE", c.StatusAttribute},
	} {
		if a.value == "" {
			add(a.key, "empty; name the attribute")
		}
	}
	if len(c.RegistrationAttributes) == 0 {
		add("REGISTRATION_ATTRIBUTES", "at least one contact attribute is needed")
	}
	if c.LastCallAttribute != "" && strings.EqualFold(c.LastCallAttribute, c.StatusAttribute) {
		add("STATUS_ATTRIBUTE", "%q is also LAST_CALL_ATTRIBUTE; the sync writes two different attributes", c.StatusAttribute)
	}
	if c.BillingFreezeDays < 0 {
		add("BILLING_FREEZE_DAYS", "%d is negative", c.BillingFreezeDays)
	}
	if c.MaxSeriesPerFamily < 1 {
		add("MAX_SERIES_PER_FAMILY", "%d: at least 1 is needed", c.MaxSeriesPerFamily)
	}

	switch c.SyncMode {
	case SyncOff, SyncDryRun, SyncApply:
	default:
		add("SYNC_MODE", "%q is not one of off, dry-run, apply", c.SyncMode)
	}
	if err := CheckSchedule(c.SyncSchedule, c.Location(), time.Now()); err != nil {
		add("SYNC_SCHEDULE", "%v", err)
	}
	if c.SyncMaxWrites < 1 {
		add("SYNC_MAX_WRITES", "%d: at least 1 is needed (use SYNC_MODE=off to write nothing)", c.SyncMaxWrites)
	}
	if c.SyncConcurrency < 1 || c.SyncConcurrency > 64 {
		add("SYNC_CONCURRENCY", "%d is outside 1..64", c.SyncConcurrency)
	}

	if c.AccessToken == "" && !c.Demo {
		errs = append(errs, errors.New(TokenHelp))
	}
	if strings.ContainsAny(c.AccessToken.Reveal(), " \t\r\n") {
		// Never quote it: say what is wrong, not what it is.
		add("INTERCOM_ACCESS_TOKEN", "contains white space (was it copied with a line break or a \"Bearer \" prefix?)")
	}
	if c.Version == "" || strings.ContainsAny(c.Version, " \t\r\n") {
		add("INTERCOM_VERSION", "%q is not an API version such as 2.10 or 2.11", c.Version)
	}
	if err := checkBaseURL(c.APIBase); err != nil {
		add("INTERCOM_API_BASE", "%v", err)
	}

	if c.RequestTimeout <= 0 {
		add("REQUEST_TIMEOUT", "%s: must be positive", c.RequestTimeout)
	}
	if c.RetryMaxAttempts < 1 || c.RetryMaxAttempts > 100 {
		add("RETRY_MAX_ATTEMPTS", "%d is outside 1..100", c.RetryMaxAttempts)
	}
	if c.RetryBackoff <= 0 {
		add("RETRY_BACKOFF", "%s: must be positive", c.RetryBackoff)
	}
	if c.RetryMaxBackoff < c.RetryBackoff && !bad["RETRY_BACKOFF"] {
		add("RETRY_MAX_BACKOFF", "%s is less than RETRY_BACKOFF %s", c.RetryMaxBackoff, c.RetryBackoff)
	}

	if err := checkHostPort(c.ListenAddress); err != nil {
		add("LISTEN_ADDRESS", "%q: %v", c.ListenAddress, err)
	}
	webUsers, webUsersKnown := map[string]bool(nil), false
	if c.WebConfigFile != "" {
		if st, err := os.Stat(c.WebConfigFile); err != nil {
			add("WEB_CONFIG_FILE", "cannot read %q: %v", c.WebConfigFile, unwrapPathError(err))
		} else if st.IsDir() {
			add("WEB_CONFIG_FILE", "%q is a directory, not a file", c.WebConfigFile)
		} else {
			webUsers, webUsersKnown = readWebUsers(c.WebConfigFile)
		}
	}
	for _, r := range []struct {
		key   string
		names []string
	}{{"SYNC_USERS", c.SyncUsers}, {"MEMBER_USERS", c.MemberUsers}} {
		switch {
		case r.names == nil:
		case len(r.names) == 0:
			add(r.key, "names no user; leave it unset to let every authenticated user in")
		case c.WebConfigFile == "":
			add(r.key, "names basic auth users, but WEB_CONFIG_FILE is not set (roles need basic auth)")
		case webUsersKnown:
			for _, n := range r.names {
				if !webUsers[n] {
					add(r.key, "%q is not a user in the basic_auth_users of WEB_CONFIG_FILE", n)
				}
			}
		}
	}
	if c.StateDir != "" {
		if err := checkWritableDir(c.StateDir); err != nil {
			add("STATE_DIR", "cannot use %q: %v", c.StateDir, err)
		}
	}
	if c.RefreshInterval < 10*time.Second {
		add("REFRESH_INTERVAL", "%s is less than 10s", c.RefreshInterval)
	}
	if c.RefreshTimeout <= 0 {
		add("REFRESH_TIMEOUT", "%s: must be positive", c.RefreshTimeout)
	}
	if c.FullRefreshTimeout <= 0 {
		add("FULL_REFRESH_TIMEOUT", "%s: must be positive", c.FullRefreshTimeout)
	}
	if c.SlowRefreshInterval < 0 {
		add("SLOW_REFRESH_INTERVAL", "%s is negative", c.SlowRefreshInterval)
	} else if c.SlowRefreshInterval > 0 && c.SlowRefreshInterval < c.RefreshInterval && !bad["REFRESH_INTERVAL"] {
		add("SLOW_REFRESH_INTERVAL", "%s is less than REFRESH_INTERVAL %s; use 0 to read contacts at every refresh", c.SlowRefreshInterval, c.RefreshInterval)
	}
	if c.IncrementalOverlap < 10*time.Second || c.IncrementalOverlap > 24*time.Hour {
		add("INCREMENTAL_OVERLAP", "%s is outside 10s..24h", c.IncrementalOverlap)
	}
	switch {
	case c.FullRefreshInterval < 0:
		add("FULL_REFRESH_INTERVAL", "%s is negative", c.FullRefreshInterval)
	case c.FullRefreshInterval > 0 && c.FullRefreshInterval < c.RefreshInterval && !bad["REFRESH_INTERVAL"]:
		add("FULL_REFRESH_INTERVAL", "%s is less than REFRESH_INTERVAL %s; use 0 to make every refresh a full read", c.FullRefreshInterval, c.RefreshInterval)
	}
	if c.RefreshConcurrency < 1 || c.RefreshConcurrency > 256 {
		add("REFRESH_CONCURRENCY", "%d is outside 1..256", c.RefreshConcurrency)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		add("LOG_LEVEL", "%v", err)
	}
	if c.LogFormat != "logfmt" && c.LogFormat != "json" {
		add("LOG_FORMAT", "%q is neither logfmt nor json", c.LogFormat)
	}

	if c.DemoIntercomAddress != "" {
		if err := checkHostPort(c.DemoIntercomAddress); err != nil {
			add("DEMO_INTERCOM_ADDRESS", "%q: %v", c.DemoIntercomAddress, err)
		}
	}
	for _, d := range []struct {
		key string
		v   int
	}{
		{"DEMO_PARTICIPANTS", c.DemoParticipants}, {"DEMO_CONVERSATIONS", c.DemoConversations},
		{"DEMO_COACHES", c.DemoCoaches}, {"DEMO_EMPLOYERS", c.DemoEmployers},
	} {
		if d.v < 0 || d.v > 10_000_000 {
			add(d.key, "%d is outside 0..10000000", d.v)
		}
	}
	return errs
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("empty; use host:port or :port")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port or :port")
	}
	if port == "" {
		return errors.New("no port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// readWebUsers reads the basic auth user names of an exporter-toolkit web
// configuration; ok is false when the file cannot be read or parsed (the
// web server reports that at start-up with exporter-toolkit's own words).
func readWebUsers(path string) (users map[string]bool, ok bool) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var wc struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(content, &wc); err != nil {
		return nil, false
	}
	users = make(map[string]bool, len(wc.Users))
	for n := range wc.Users {
		users[n] = true
	}
	return users, true
}

// checkWritableDir checks that dir is a directory the exporter can create
// and remove files in, as saving state does (docs/operations.md).
func checkWritableDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%v (create it, writable by the exporter)", unwrapPathError(err))
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("not writable by the exporter: %v", unwrapPathError(err))
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("files cannot be removed from it: %v", unwrapPathError(err))
	}
	return nil
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL (such as https://api.intercom.io)")
	}
	// A proxy URL may carry credentials: show neither user nor password.
	bare := *u
	bare.User = nil
	shown := bare.String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: the scheme must be https (or http for a local fake)", shown)
	case u.Host == "":
		return fmt.Errorf("%q: no host", shown)
	case u.User != nil:
		return fmt.Errorf("%q: no credentials allowed in the URL (Intercom authenticates with INTERCOM_ACCESS_TOKEN)", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: no query or fragment allowed", shown)
	}
	return nil
}

// ParseLogLevel reads LOG_LEVEL.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// Engagement is the part of the configuration the rules depend on.
func (c *Config) Engagement() engagement.Config {
	return engagement.Config{
		Location:           c.Location(),
		SessionChannels:    c.SessionChannels,
		CallChannels:       c.CallChannels,
		LookbackDays:       c.LookbackDays,
		EngagedDays:        c.EngagedDays,
		AtRiskDays:         c.AtRiskDays,
		BillingEngagedDays: c.BillingEngagedDays,
		MemberCoach:        c.MemberCoach,
	}
}

// Mode is SYNC_MODE as the runner's type.
func (c *Config) Mode() engagement.Mode { return engagement.Mode(c.SyncMode) }

// LogValue is the configuration for a start-up log line; the token is
// redacted (only whether it is set is shown).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("timezone", c.Timezone),
		slog.String("intercom_api_base", redactURL(c.APIBase)),
		slog.String("intercom_version", c.Version),
		slog.Bool("token_set", c.AccessToken != ""),
		slog.String("listen_address", c.ListenAddress),
		slog.Bool("web_config_file_set", c.WebConfigFile != ""),
		slog.Duration("refresh_interval", c.RefreshInterval),
		slog.Duration("slow_refresh_interval", c.SlowRefreshInterval),
		slog.Duration("refresh_timeout", c.RefreshTimeout),
		slog.Duration("full_refresh_interval", c.FullRefreshInterval),
		slog.Duration("full_refresh_timeout", c.FullRefreshTimeout),
		slog.Duration("incremental_overlap", c.IncrementalOverlap),
		slog.Int("refresh_concurrency", c.RefreshConcurrency),
		slog.Int("lookback_days", c.LookbackDays),
		slog.String("session_channels", strings.Join(c.SessionChannels, ",")),
		slog.String("call_channels", strings.Join(c.CallChannels, ",")),
		slog.String("member_coach", c.MemberCoach),
		slog.String("sync_mode", c.SyncMode),
		slog.String("sync_schedule", c.SyncSchedule),
		slog.Int("max_series_per_family", c.MaxSeriesPerFamily),
		slog.Bool("allow_unauthenticated", c.AllowUnauthenticated),
		slog.String("sync_users", roleLog(c.SyncUsers)),
		slog.String("member_users", roleLog(c.MemberUsers)),
		slog.String("state_dir", c.StateDir),
		slog.Bool("demo", c.Demo),
	)
}

// String is the whole configuration with the token redacted.
func (c Config) String() string {
	cc := c
	cc.APIBase = redactURL(cc.APIBase)
	type plain Config // drops the methods, keeps Secret's redaction
	cc.location = nil // Timezone says it
	return fmt.Sprintf("%+v", plain(cc))
}

// roleLog shows a role list; unset means every authenticated user.
func roleLog(names []string) string {
	if names == nil {
		return "(every authenticated user)"
	}
	return strings.Join(names, ",")
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}

// Definition is one row of the effective glossary: a configured rule, its
// value and what it means (for the landing page, so the glossary never
// drifts from the configuration).
type Definition struct {
	Name, Value, Meaning string
}

// Warnings lists settings that are valid but probably not meant; start-up
// logs them.
func (c *Config) Warnings() []string {
	var w []string
	// The previous month starts at most 61 days before today (31 + 30), and
	// its engaged window BILLING_ENGAGED_DAYS before that: a shorter lookback
	// cannot always bill it.
	if need := c.BillingEngagedDays + 61; c.LookbackDays < need {
		w = append(w, fmt.Sprintf("LOOKBACK_DAYS=%d is less than BILLING_ENGAGED_DAYS+61=%d: the previous month's billing cohort cannot always be computed, and intercom_billing_members is then not exported", c.LookbackDays, need))
	}
	if msg := versionWarning(c.Version); msg != "" {
		w = append(w, msg)
	}
	return w
}

// versionWarning says when INTERCOM_VERSION is not one the exporter is
// tested against (docs/intercom.md): it may work, but nothing shows it.
func versionWarning(version string) string {
	if version == "" || intercom.VersionSupported(version) {
		return ""
	}
	return fmt.Sprintf("INTERCOM_VERSION=%s is untested: the exporter is tested against Intercom API versions %s; it asks for %s anyway",
		version, strings.Join(intercom.SupportedVersions, ", "), version)
}

// Definitions lists the effective rules of docs/reports.md and docs/sync.md.
func (c *Config) Definitions() []Definition {
	bands := func(bs []engagement.Band) string {
		return strings.Join(engagement.BandNames(bs), ", ")
	}
	return []Definition{
		{"TIMEZONE", c.Timezone, "Every day-based rule counts calendar days in this timezone."},
		{"CHANNEL_ATTRIBUTE", c.ChannelAttribute, "Conversation custom attribute holding the channel."},
		{"SESSION_CHANNELS", strings.Join(c.SessionChannels, ", "), "A coaching session is a closed conversation on one of these channels (spaces and letter case ignored)."},
		{"CALL_CHANNELS", strings.Join(c.CallChannels, ", "), "A call is a session on one of these channels."},
		{"MEMBER_COACH", c.MemberCoach, "owner: the contact's owner, else the coach of its most recent session; last_session: only the latter; else unassigned."},
		{"EMPLOYER_ATTRIBUTE", c.EmployerAttribute, "Contact attribute holding the employer; \"unknown\" when empty."},
		{"REGISTRATION_ATTRIBUTES", strings.Join(c.RegistrationAttributes, ", "), "An enrolled participant has a valid date in the first of these attributes that has one."},
		{"LAST_CALL_ATTRIBUTE", c.LastCallAttribute, "Contact attribute the sync writes the last call to (UNIX seconds); a valid stored value counts as a call."},
		{"STATUS_ATTRIBUTE", c.StatusAttribute, "Contact attribute the sync writes the engagement status to."},
		{"LOOKBACK_DAYS", fmt.Sprint(c.LookbackDays), "Sessions older than this many days are left out of the reports."},
		{"Age bands", bands(engagement.AgeBands), "Days since the last session (caseload) or since the session (sessions)."},
		{"Participant bands", bands(engagement.ParticipantBands), "Days without a session of an enrolled participant (since its registration when it never had one)."},
		{"ENGAGED_DAYS", fmt.Sprint(c.EngagedDays), "Engaged: the last call was at most this many days ago."},
		{"AT_RISK_DAYS", fmt.Sprint(c.AtRiskDays), "At Risk: the last call was at most this many days ago (and not Engaged); older is Unengaged; an enrolled participant with no call is No Call."},
		{"BILLING_ENGAGED_DAYS", fmt.Sprint(c.BillingEngagedDays), "Billed as engaged in month M: a call on a day from this many days before M starts to the end of M."},
		{"BILLING_FREEZE_DAYS", fmt.Sprint(c.BillingFreezeDays), "Once more than this many days have passed since a month's last day, its billing cohort as first computed then is kept in STATE_DIR and served (X-Billing-Frozen); ?live=true shows the live computation. Without STATE_DIR nothing is frozen."},
		{"REFRESH_INTERVAL", c.RefreshInterval.String(), "How often the conversations that changed are read; metrics are served from the last complete read."},
		{"SLOW_REFRESH_INTERVAL", c.SlowRefreshInterval.String(), "How often the contacts, admins and data attributes that changed are read too, and deleted records looked for (0: at every refresh)."},
		{"INCREMENTAL_OVERLAP", c.IncrementalOverlap.String(), "Each incremental read starts this long before the previous one, so that changes Intercom's search shows late are still read."},
		{"FULL_REFRESH_INTERVAL", c.FullRefreshInterval.String(), "A refresh reads only what changed since the last one; every this long it reads everything, which also catches deleted and merged records (0: every refresh reads everything)."},
		{"SYNC_MODE", c.SyncMode, "Engagement sync: off, dry-run (plan only) or apply (write changed contacts)."},
		{"SYNC_SCHEDULE", c.SyncSchedule, "When the engagement sync runs (cron, in TIMEZONE)."},
		{"MAX_SERIES_PER_FAMILY", fmt.Sprint(c.MaxSeriesPerFamily), "Series budget per report family; the smallest employers are merged into (other) beyond it."},
	}
}
