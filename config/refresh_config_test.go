package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad_RefreshAtScaleDefaults(t *testing.T) {
	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": "tok"})
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, c.FullRefreshInterval)
	assert.Equal(t, 32, c.RefreshConcurrency)
}

func TestLoad_RefreshAtScaleSettingsAreValidatedWithTheRest(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string // every problem is listed, in one error
	}{
		{map[string]string{"FULL_REFRESH_INTERVAL": "-1h", "REFRESH_CONCURRENCY": "0", "LOG_LEVEL": "loud"},
			[]string{"FULL_REFRESH_INTERVAL: -1h0m0s is negative", "REFRESH_CONCURRENCY: 0 is outside 1..256", "LOG_LEVEL"}},
		{map[string]string{"FULL_REFRESH_INTERVAL": "5m", "REFRESH_INTERVAL": "15m", "REFRESH_CONCURRENCY": "257"},
			[]string{"FULL_REFRESH_INTERVAL: 5m0s is less than REFRESH_INTERVAL 15m0s; use 0", "REFRESH_CONCURRENCY: 257 is outside 1..256"}},
		{map[string]string{"FULL_REFRESH_INTERVAL": "daily", "REFRESH_CONCURRENCY": "many"},
			[]string{"FULL_REFRESH_INTERVAL: not a duration", "REFRESH_CONCURRENCY: not a whole number"}},
	} {
		tc.env["INTERCOM_ACCESS_TOKEN"] = "tok"
		_, err := load(t, tc.env)
		require.Error(t, err)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w)
		}
	}
	// 0 makes every refresh a full read; 64 in-flight requests are fine.
	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": "tok", "FULL_REFRESH_INTERVAL": "0", "REFRESH_CONCURRENCY": "64"})
	require.NoError(t, err)
	assert.Zero(t, c.FullRefreshInterval)
	assert.Equal(t, 64, c.RefreshConcurrency)
}

func TestDefinitions_NameTheFullRefreshInterval(t *testing.T) {
	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": "tok", "FULL_REFRESH_INTERVAL": "12h"})
	require.NoError(t, err)
	var found bool
	for _, d := range c.Definitions() {
		if d.Name == "FULL_REFRESH_INTERVAL" {
			found = true
			assert.Equal(t, "12h0m0s", d.Value)
		}
	}
	assert.True(t, found)
}

// The cadences and time bounds of docs/freshness.md: each bad value is
// named, all at once.
func TestLoad_FreshnessSettingsAreValidatedWithTheRest(t *testing.T) {
	_, err := load(t, map[string]string{
		"INTERCOM_ACCESS_TOKEN": "tok",
		"REFRESH_INTERVAL":      "2m",
		"SLOW_REFRESH_INTERVAL": "1m",
		"REFRESH_TIMEOUT":       "0s",
		"FULL_REFRESH_TIMEOUT":  "-1h",
		"INCREMENTAL_OVERLAP":   "5s",
	})
	require.Error(t, err)
	for _, w := range []string{
		"SLOW_REFRESH_INTERVAL: 1m0s is less than REFRESH_INTERVAL 2m0s",
		"REFRESH_TIMEOUT: 0s: must be positive",
		"FULL_REFRESH_TIMEOUT: -1h0m0s: must be positive",
		"INCREMENTAL_OVERLAP: 5s is outside 10s..24h",
	} {
		assert.Contains(t, err.Error(), w)
	}
	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": "tok", "SLOW_REFRESH_INTERVAL": "-1m", "INCREMENTAL_OVERLAP": "25h"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SLOW_REFRESH_INTERVAL: -1m0s is negative")
	assert.Contains(t, err.Error(), "INCREMENTAL_OVERLAP: 25h0m0s is outside 10s..24h")

	// Edges that are fine: contacts at every refresh, the shortest and the
	// longest overlap, a slow interval equal to the quick one.
	for _, env := range []map[string]string{
		{"SLOW_REFRESH_INTERVAL": "0s", "INCREMENTAL_OVERLAP": "10s"},
		{"SLOW_REFRESH_INTERVAL": "1m", "INCREMENTAL_OVERLAP": "24h"},
	} {
		env["INTERCOM_ACCESS_TOKEN"] = "tok"
		_, err := load(t, env)
		assert.NoError(t, err, "%v", env)
	}
}
