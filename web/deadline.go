package web

import (
	"net/http"
	"time"
)

// writeDeadlines drops a client that stops reading (docs/access.md, slow
// readers): every write or flush of the handler sets the write deadline
// WriteTimeout ahead of that moment, and it stays for what the server
// writes after the handler returns. Before the first write there is none,
// so a handler may compute as long as it needs (HTTP/2 resets a stream
// whose deadline passes even with nothing to write). A report is written in chunks of at most 32 KiB, so a
// download is cut off only when the client accepts nothing for a whole
// WriteTimeout, never for being long. Then the write fails, the handler
// returns and the connection is closed, freeing the report it held.
func (s *Server) writeDeadlines(h http.Handler) http.Handler {
	d := s.o.WriteTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Clears the deadline left by the previous request on a kept-alive
		// connection. Recorders in tests do not support it.
		_ = rc.SetWriteDeadline(time.Time{})
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, d: d}, r)
	})
}

// deadlineWriter extends the write deadline before each write.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(b)
}

// FlushError lets http.ResponseController flush through the wrapper.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
