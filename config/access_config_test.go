package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webConfig writes a web configuration naming users (the hashes are not
// checked here).
func webConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "web-config.yml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

const rolesWebConfig = "basic_auth_users:\n  prometheus: $2y$10$x\n  finance: $2y$10$x\n  ops: $2y$10$x\n"

func TestLoad_RolesDefaultUnsetAndAreTrimmed(t *testing.T) {
	c, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token})
	require.NoError(t, err)
	assert.Nil(t, c.SyncUsers, "unset: every authenticated user may write")
	assert.Nil(t, c.MemberUsers, "unset: every authenticated user may read")

	c, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "WEB_CONFIG_FILE": webConfig(t, rolesWebConfig),
		"SYNC_USERS": " ops ", "MEMBER_USERS": "finance, ops"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ops"}, c.SyncUsers)
	assert.Equal(t, []string{"finance", "ops"}, c.MemberUsers)
}

func TestLoad_RolesMustNameWebConfigUsers(t *testing.T) {
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "WEB_CONFIG_FILE": webConfig(t, rolesWebConfig),
		"SYNC_USERS": "ops,operations", "MEMBER_USERS": "finance,grafana"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `SYNC_USERS: "operations" is not a user in the basic_auth_users of WEB_CONFIG_FILE`)
	assert.Contains(t, err.Error(), `MEMBER_USERS: "grafana" is not a user`)
	assert.Contains(t, err.Error(), "2 problems")

	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "SYNC_USERS": "ops"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SYNC_USERS: names basic auth users, but WEB_CONFIG_FILE is not set")

	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "WEB_CONFIG_FILE": webConfig(t, rolesWebConfig), "MEMBER_USERS": " , "})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MEMBER_USERS: names no user")
}

func TestLoad_ListenAddressPortOutOfRange(t *testing.T) {
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "LISTEN_ADDRESS": "127.0.0.1:99999", "LOG_LEVEL": "loud"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `LISTEN_ADDRESS: "127.0.0.1:99999": port "99999" is not a number in 0..65535`)
	assert.Contains(t, err.Error(), "LOG_LEVEL", "in the combined error")
	for _, ok := range []string{"127.0.0.1:65535", ":8469", "[::1]:8469"} {
		_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "LISTEN_ADDRESS": ok})
		assert.NoError(t, err, ok)
	}
	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "LISTEN_ADDRESS": ":65536"})
	assert.ErrorContains(t, err, "LISTEN_ADDRESS")
}

func TestLoad_TimezoneLocalIsRefused(t *testing.T) {
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "TIMEZONE": "Local"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `TIMEZONE: "Local" is the machine's zone, not an IANA timezone name`)
}

func TestLoad_StateDirMustBeWritable(t *testing.T) {
	ok := t.TempDir()
	_, err := load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "STATE_DIR": ok})
	require.NoError(t, err)
	left, err := os.ReadDir(ok)
	require.NoError(t, err)
	assert.Empty(t, left, "the check leaves nothing behind")

	file := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "STATE_DIR": file})
	assert.ErrorContains(t, err, "STATE_DIR:")
	assert.ErrorContains(t, err, "not a directory")

	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "STATE_DIR": filepath.Join(ok, "missing")})
	assert.ErrorContains(t, err, "STATE_DIR:")

	// A directory the process cannot write to: read-only by mode, or, for
	// root (which ignores the mode), /sys where the kernel refuses files.
	ro := t.TempDir()
	require.NoError(t, os.Chmod(ro, 0o555))
	t.Cleanup(func() { _ = os.Chmod(ro, 0o755) })
	dir := ""
	for _, d := range []string{ro, "/sys"} {
		if f, err := os.CreateTemp(d, "probe-*"); err == nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			continue
		}
		dir = d
		break
	}
	if dir == "" {
		t.Skip("no unwritable directory available to this process")
	}
	_, err = load(t, map[string]string{"INTERCOM_ACCESS_TOKEN": token, "STATE_DIR": dir, "LOG_LEVEL": "loud"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STATE_DIR:")
	assert.Contains(t, err.Error(), "not writable by the exporter")
	assert.Contains(t, err.Error(), "LOG_LEVEL", "part of the combined error")
}
