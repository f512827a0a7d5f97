package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const token = "dG9rOnNlY3JldC10b2tlbi12YWx1ZQ==" // never to be seen in output

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(context.Background(), envconfig.MapLookuper(env))
}

func TestLoad_DefaultsAreTheSpecs(t *testing.T) {
	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token})
	require.NoError(t, err)

	assert.Equal(t, "UTC", c.Timezone)
	assert.Equal(t, time.UTC.String(), c.Location().String())
	assert.Equal(t, "Channel", c.ChannelAttribute)
	assert.Equal(t, []string{"Phone", "Video Conference", "Email", "Chat"}, c.SessionChannels)
	assert.Equal(t, []string{"Phone", "Video Conference"}, c.CallChannels)
	assert.Equal(t, "owner", c.MemberCoach)
	assert.Equal(t, "Employer", c.EmployerAttribute)
	assert.Equal(t, []string{"Registration Date", "Enrolled Date"}, c.RegistrationAttributes)
	assert.Equal(t, "Last Coaching Call", c.LastCallAttribute)
	assert.Equal(t, "Engagement Status", c.StatusAttribute)
	assert.Equal(t, 365, c.LookbackDays)
	assert.Equal(t, 28, c.EngagedDays)
	assert.Equal(t, 56, c.AtRiskDays)
	assert.Equal(t, 56, c.BillingEngagedDays)
	assert.Equal(t, 5, c.BillingFreezeDays)
	assert.Equal(t, 10000, c.MaxSeriesPerFamily)
	assert.False(t, c.AllowUnauthenticated)
	assert.Equal(t, "0 6 * * *", c.SyncSchedule)
	assert.Equal(t, "dry-run", c.SyncMode)
	assert.Equal(t, 5000, c.SyncMaxWrites)
	assert.Equal(t, 4, c.SyncConcurrency)
	assert.Equal(t, token, c.AccessToken.Reveal())
	assert.Equal(t, "2.10", c.Version)
	assert.Equal(t, "https://api.intercom.io", c.APIBase)
	assert.Equal(t, ":8469", c.ListenAddress)
	assert.Equal(t, DefaultListenAddress, c.ListenAddress)
	assert.Empty(t, c.WebConfigFile)
	assert.Equal(t, time.Minute, c.RefreshInterval)
	assert.Equal(t, 15*time.Minute, c.SlowRefreshInterval)
	assert.Equal(t, 5*time.Minute, c.RefreshTimeout)
	assert.Equal(t, 2*time.Hour, c.FullRefreshTimeout)
	assert.Equal(t, 5*time.Minute, c.IncrementalOverlap)
	assert.Empty(t, c.StateDir)
	assert.False(t, c.Demo)
	assert.Empty(t, c.DemoIntercomAddress)
	assert.Equal(t, 30*time.Second, c.RequestTimeout)
	assert.Equal(t, 5, c.RetryMaxAttempts)
	assert.Equal(t, 500*time.Millisecond, c.RetryBackoff)
	assert.Equal(t, 30*time.Second, c.RetryMaxBackoff)
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, "logfmt", c.LogFormat)
	assert.Equal(t, 2000, c.DemoParticipants)
	assert.Equal(t, 20000, c.DemoConversations)
	assert.Equal(t, 12, c.DemoCoaches)
	assert.Equal(t, 25, c.DemoEmployers)
	assert.Equal(t, int64(1), c.DemoSeed)

	ec := c.Engagement()
	assert.NoError(t, ec.Validate())
	assert.Equal(t, 365, ec.LookbackDays)
	assert.Equal(t, "owner", ec.MemberCoach)
}

func TestLoad_ListPartsAreTrimmedAndEmptyMeansDefault(t *testing.T) {
	c, err := load(t, map[string]string{
		"INTERCOM_ACCESS_TOKEN": token,
		"SESSION_CHANNELS":      " Phone , Zoom ,, Email",
		"CALL_CHANNELS":         "zoom",
		"TIMEZONE":              "Europe/London",
		"LOOKBACK_DAYS":         "",
		"SYNC_MODE":             "Apply",
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"Phone", "Zoom", "Email"}, c.SessionChannels)
	assert.Equal(t, 365, c.LookbackDays)
	assert.Equal(t, "Europe/London", c.Location().String())
	assert.Equal(t, "apply", c.SyncMode)
}

func TestLoad_SeveralBadValuesAreAllListedInOneError(t *testing.T) {
	_, err := load(t, map[string]string{
		"INTERCOM_ACCESS_TOKEN": token,
		"TIMEZONE":              "Mars/Olympus",
		"LOOKBACK_DAYS":         "a year",          // unparsable: go-envconfig would stop here
		"REFRESH_INTERVAL":      "fifteen minutes", // unparsable too
		"ALLOW_UNAUTHENTICATED": "perhaps",
		"ENGAGED_DAYS":          "60",
		"AT_RISK_DAYS":          "30",
		"CALL_CHANNELS":         "Phone,Carrier Pigeon",
		"SYNC_SCHEDULE":         "0 6 31 2 *",
		"SYNC_MODE":             "yolo",
		"INTERCOM_API_BASE":     "ftp://user:hunter2@example.com",
		"LOG_FORMAT":            "xml",
		"LISTEN_ADDRESS":        "8469",
		"MEMBER_COACH":          "nobody",
	})
	require.Error(t, err)
	msg := err.Error()
	var cerr *Error
	require.True(t, errors.As(err, &cerr))
	assert.Len(t, cerr.Problems, 12, msg)
	for _, want := range []string{
		"invalid configuration (12 problems)",
		`TIMEZONE: "Mars/Olympus" is not an IANA timezone`,
		"LOOKBACK_DAYS: not a whole number",
		"REFRESH_INTERVAL: not a duration",
		"ALLOW_UNAUTHENTICATED: not a boolean",
		"AT_RISK_DAYS: 30 is less than ENGAGED_DAYS 60",
		`CALL_CHANNELS: "Carrier Pigeon" is not one of SESSION_CHANNELS`,
		"SYNC_SCHEDULE:", "never fires",
		`SYNC_MODE: "yolo"`,
		"INTERCOM_API_BASE:", "scheme must be https",
		`LOG_FORMAT: "xml"`,
		"LISTEN_ADDRESS:",
		"MEMBER_COACH:",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "hunter2", "a password in the base URL is redacted")
	assert.NotContains(t, msg, token)
}

func TestLoad_MissingTokenSaysHowToGetOneAndWhichScopes(t *testing.T) {
	_, err := load(t, map[string]string{})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"INTERCOM_ACCESS_TOKEN", "Developer Hub", "Authentication",
		"read contacts", "write contacts", "read conversations", "read admins", "read data attributes", "-demo"} {
		assert.Contains(t, msg, want)
	}

	c, err := load(t, map[string]string{"DEMO": "true"})
	require.NoError(t, err, "demo needs no token")
	assert.True(t, c.Demo)
}

func TestSecret_NeverPrinted(t *testing.T) {
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "INTERCOM_API_BASE": "https://u:pw@proxy.example"})
	require.ErrorContains(t, err, "no credentials allowed in the URL")
	assert.NotContains(t, err.Error(), ":pw@")

	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token})
	require.NoError(t, err)

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("config", "config", c, "token", c.AccessToken)
		l.Info("config", "config", *c)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		fmt.Fprintf(&buf, verb+"\n", c.AccessToken)
		fmt.Fprintf(&buf, verb+"\n", c)
		fmt.Fprintf(&buf, verb+"\n", *c)
	}
	buf.WriteString(c.String())

	j, err := json.Marshal(c)
	require.NoError(t, err)
	buf.Write(j)
	out := buf.String()
	assert.NotContains(t, out, token)
	assert.NotContains(t, out, fmt.Sprintf("%x", token))
	assert.Contains(t, out, redacted)
}

func TestLoad_TokenNeverInErrors(t *testing.T) {
	// A token with a line break is a problem; the error names it without
	// quoting it, next to other problems.
	bad := token + "\n"
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": bad, "SYNC_MAX_WRITES": "0", "LOG_LEVEL": "loud"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "INTERCOM_ACCESS_TOKEN: contains white space")
	assert.Contains(t, err.Error(), "SYNC_MAX_WRITES")
	assert.Contains(t, err.Error(), "LOG_LEVEL")
	assert.NotContains(t, err.Error(), strings.TrimSpace(token))
}

func TestWarnings_LookbackTooShortToBillThePreviousMonth(t *testing.T) {
	// 56 + 61 = 117: Aug 31 -> July 1 is 61 days back, its window 56 more.
	short, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"DEMO": "true", "LOOKBACK_DAYS": "116"}))
	require.NoError(t, err)
	require.Len(t, short.Warnings(), 1)
	assert.Contains(t, short.Warnings()[0], "LOOKBACK_DAYS=116")
	enough, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"DEMO": "true", "LOOKBACK_DAYS": "117"}))
	require.NoError(t, err)
	assert.Empty(t, enough.Warnings())
}

func TestBaseURLErrorNeverShowsCredentials(t *testing.T) {
	_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"DEMO": "true", "INTERCOM_API_BASE": "ftp://sekrit-user:sekrit-pass@example.com"}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "sekrit")
}

func TestWarnings_UntestedIntercomVersion(t *testing.T) {
	for _, v := range []string{"2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16"} {
		c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"DEMO": "true", "INTERCOM_VERSION": v}))
		require.NoError(t, err)
		assert.Empty(t, c.Warnings(), "version %s is supported", v)
	}
	for _, v := range []string{"2.9", "2.17", "Unstable", "2.1"} {
		c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"DEMO": "true", "INTERCOM_VERSION": v}))
		require.NoError(t, err, "an untested version still starts")
		require.Len(t, c.Warnings(), 1, v)
		assert.Contains(t, c.Warnings()[0], "INTERCOM_VERSION="+v+" is untested")
		assert.Contains(t, c.Warnings()[0], "2.10, 2.11, 2.12, 2.13, 2.14, 2.15, 2.16")
	}
}
