package intercom

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// meOfSize is a /me answer of exactly n bytes (n at least 64).
func meOfSize(n int) string {
	const head, tail = `{"type":"admin","app":{"id_code":"abc","name":"x"},"pad":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestResponseLimit_LargerAnswerFailsOnceAndIsNotRetried(t *testing.T) {
	const limit = 4 << 10
	for _, declared := range []bool{true, false} {
		t.Run("Content-Length "+strconv.FormatBool(declared), func(t *testing.T) {
			obs := &observed{}
			body := meOfSize(limit + 1)
			c, rc := newTestServer(t, []Option{WithMaxResponseBytes(limit), WithObserver(obs)},
				func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if declared {
						w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					} else {
						w.(http.Flusher).Flush() // chunked: the size shows only while reading
					}
					_, _ = w.Write([]byte(body))
				})
			_, err := c.Me(context.Background())
			require.ErrorIs(t, err, ErrResponseTooLarge)
			assert.Contains(t, err.Error(), "GET /me")
			assert.Contains(t, err.Error(), "larger than 4096 bytes")
			assert.Len(t, rc.requests(), 1, "the same answer is not asked for again")
			assert.Equal(t, []string{"GET /me error"}, obs.reqs())
		})
	}
}

func TestResponseLimit_AnswerOfExactlyTheLimitIsRead(t *testing.T) {
	const limit = 4 << 10
	c, _ := newTestServer(t, []Option{WithMaxResponseBytes(limit)}, reply(200, meOfSize(limit)))
	ws, err := c.Me(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "abc", ws.IDCode)
}

func TestResponseLimit_DefaultAndBadSetting(t *testing.T) {
	c, err := New("https://api.intercom.io", testToken, "2.10")
	require.NoError(t, err)
	assert.Equal(t, int64(16<<20), c.maxBody)
	_, err = New("https://api.intercom.io", testToken, "2.10", WithMaxResponseBytes(0))
	assert.ErrorContains(t, err, "response size limit")
}
