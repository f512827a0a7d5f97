package collector

import "time"

// Status is the refresh status shown on the landing page and used by
// /readyz. It is a copy: callers may keep it.
type Status struct {
	// Ready is true once reports are published (from a refresh or from
	// saved state).
	Ready bool
	// Up is true when the last refresh succeeded.
	Up           bool
	Refreshing   bool
	LastAttempt  time.Time
	LastSuccess  time.Time
	LastDuration time.Duration
	// LastError is the reason the last refresh failed, "" when it did not.
	LastError string
	Interval  time.Duration
	// DataTimestamp is the "now" the published reports were computed for.
	DataTimestamp time.Time
}
