package web

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"
)

// Access to member data and writes is decided on every request from the web
// configuration file as it is then (docs/access.md), and fails closed: a
// file that loses its users, or cannot be read or parsed, refuses member
// data and writes, whatever it said at start-up. exporter-toolkit re-reads
// the same file on every request for /metrics and the rest.

// need is what a request wants to do.
type need int

const (
	needRead  need = iota // member data (MEMBER_USERS)
	needWrite             // POST /sync and the like (SYNC_USERS)
)

// webUsers is the basic_auth_users of one version of the web configuration.
type webUsers struct {
	users map[string]string // name -> bcrypt hash
	err   error             // the file could not be read or parsed
}

// accessGate reads the web configuration per request, parsing it again
// only when its content changed, and checks credentials against it.
type accessGate struct {
	path string

	mu      sync.Mutex
	content []byte
	parsed  webUsers
	// lastReason is the last refusal logged, so that a broken file is
	// logged once per change, not once per request.
	lastReason string
	// verified caches bcrypt checks (exporter-toolkit has checked the same
	// credentials just before): sha256 of user, hash and password.
	verified map[[32]byte]bool
}

// maxVerified bounds the credential cache; it is emptied when full.
const maxVerified = 1024

// current reads and parses the web configuration as it is now, the way
// exporter-toolkit does (strict YAML).
func (g *accessGate) current() webUsers {
	content, err := os.ReadFile(g.path)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.content = nil
		g.parsed = webUsers{err: fmt.Errorf("WEB_CONFIG_FILE %s cannot be read: %w", g.path, unwrapPath(err))}
		return g.parsed
	}
	if g.content != nil && bytes.Equal(content, g.content) {
		return g.parsed
	}
	g.content = content
	var c web.Config
	if err := yaml.UnmarshalStrict(content, &c); err != nil {
		g.parsed = webUsers{err: fmt.Errorf("WEB_CONFIG_FILE %s cannot be parsed: %w", g.path, err)}
		return g.parsed
	}
	users := make(map[string]string, len(c.Users))
	for name, hash := range c.Users {
		users[name] = string(hash)
	}
	g.parsed = webUsers{users: users}
	return g.parsed
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// verify checks a user's password against its bcrypt hash, cached.
func (g *accessGate) verify(user, hash, password string) bool {
	h := sha256.New()
	for _, s := range []string{user, hash, password} {
		_, _ = fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	var key [32]byte
	h.Sum(key[:0])
	g.mu.Lock()
	ok, found := g.verified[key]
	g.mu.Unlock()
	if found {
		return ok
	}
	ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	g.mu.Lock()
	if g.verified == nil || len(g.verified) >= maxVerified {
		g.verified = make(map[[32]byte]bool)
	}
	g.verified[key] = ok
	g.mu.Unlock()
	return ok
}

// logRefusal logs why access is refused, once per new reason.
func (s *Server) logRefusal(reason string) {
	g := s.gate
	g.mu.Lock()
	fresh := g.lastReason != reason
	g.lastReason = reason
	g.mu.Unlock()
	if fresh {
		s.log.Error("Member data and writes are refused", "reason", reason)
	}
}

// clearRefusal forgets the last refusal once access works again.
func (s *Server) clearRefusal() {
	g := s.gate
	g.mu.Lock()
	was := g.lastReason
	g.lastReason = ""
	g.mu.Unlock()
	if was != "" {
		s.log.Info("The web configuration is usable again; member data and writes are decided from it", "was", was)
	}
}

// refusal is why a request is refused: the status and a one-line reason.
type refusal struct {
	code int
	msg  string
}

// decide says whether r may do n; nil when it may.
func (s *Server) decide(r *http.Request, n need) *refusal {
	var users map[string]string
	if s.gate != nil {
		cur := s.gate.current()
		if cur.err != nil {
			s.logRefusal(cur.err.Error())
			return &refusal{http.StatusForbidden, "member data and writes are refused: the web configuration cannot be read or parsed; see the exporter's log"}
		}
		users = cur.users
		if len(users) == 0 && s.basicAuth {
			s.logRefusal(fmt.Sprintf("WEB_CONFIG_FILE %s no longer names basic_auth_users; basic auth was configured at start-up", s.gate.path))
			return &refusal{http.StatusForbidden, "member data and writes are refused: the web configuration no longer names basic auth users; see the exporter's log"}
		}
		s.clearRefusal()
	}
	if len(users) == 0 {
		// No basic auth, now and at start-up.
		if !s.o.AllowUnauthenticated && !s.o.Demo {
			return &refusal{http.StatusForbidden, AccessHelp}
		}
		if list := s.roleList(n); list != nil {
			return &refusal{http.StatusForbidden, fmt.Sprintf("%s names basic auth users, but basic auth is not configured (WEB_CONFIG_FILE with basic_auth_users)", roleVar(n))}
		}
		return nil
	}
	user, password, ok := r.BasicAuth()
	hash, known := users[user]
	if !ok || !known || !s.gate.verify(user, hash, password) {
		return &refusal{http.StatusUnauthorized, "basic auth credentials are missing or wrong"}
	}
	if list := s.roleList(n); list != nil && !slices.Contains(list, user) {
		return &refusal{http.StatusForbidden, fmt.Sprintf("user %q may not %s: it is not in %s", user, needWords(n), roleVar(n))}
	}
	return nil
}

func (s *Server) roleList(n need) []string {
	if n == needWrite {
		return s.o.SyncUsers
	}
	return s.o.MemberUsers
}

func roleVar(n need) string {
	if n == needWrite {
		return "SYNC_USERS"
	}
	return "MEMBER_USERS"
}

func needWords(n need) string {
	if n == needWrite {
		return "write (POST /sync)"
	}
	return "read member data"
}

// guard refuses a request that may not do n (401 with a Basic challenge,
// or 403 with the reason), else serves it with h.
func (s *Server) guard(n need, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ref := s.decide(r, n); ref != nil {
			if ref.code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="intercom_exporter"`)
			}
			textError(w, ref.code, ref.msg)
			return
		}
		h(w, r)
	}
}

// memberAccess reports whether member data is served at all as configured
// at start-up (the landing page shows how to configure it otherwise).
func (s *Server) memberAccess() bool {
	return s.basicAuth || s.o.AllowUnauthenticated || s.o.Demo
}
