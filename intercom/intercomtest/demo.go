package intercomtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Demo is a running fake Intercom loaded with a generated workspace
// (docs/development.md): what the exporter's -demo mode reads and writes.
type Demo struct {
	// URL is the API base to read from, Token the access token it accepts.
	URL, Token string

	closers []func()
}

// DemoOptions say what to generate and where to serve it.
type DemoOptions struct {
	Generate GenerateOptions
	// Token is the token to accept; a random one when "".
	Token string
	// Address, when set, is a host:port to serve the fake on as well (so
	// that it can be looked at), and URL points there.
	Address string
}

// StartDemo generates a workspace and serves it. Close stops it.
func StartDemo(o DemoOptions) (*Demo, error) {
	token := o.Token
	if token == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = "demo-" + hex.EncodeToString(b[:])
	}
	fake := NewServer(Generate(o.Generate), Options{Token: token})
	d := &Demo{URL: fake.URL(), Token: token, closers: []func(){fake.Close}}
	if o.Address != "" {
		ln, err := net.Listen("tcp", o.Address)
		if err != nil {
			fake.Close()
			return nil, fmt.Errorf("serving the demo Intercom on %s: %w", o.Address, err)
		}
		hs := &http.Server{Handler: fake.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		d.closers = append(d.closers, func() { _ = hs.Close() })
		d.URL = "http://" + ln.Addr().String()
	}
	return d, nil
}

// Close stops the fake.
func (d *Demo) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}
