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

	// WorkspaceTimezone is the Intercom workspace's own timezone (GET /me),
	// which its contact search uses for dates; "" until read.
	WorkspaceTimezone string
	// WorkspaceID is the workspace's app id (GET /me's id_code), which its
	// pages in Intercom are addressed by; "" until read.
	WorkspaceID string
	// APIHost is the host of INTERCOM_API_BASE, which names the workspace's
	// region (only the host: the base may carry credentials of a proxy).
	APIHost string
	// AdminsKnown is false when admins could not be read (coaches are then
	// shown by id).
	AdminsKnown bool

	// SyncMode is SYNC_MODE (off, dry-run or apply).
	SyncMode string
	// LastSyncEnd and LastSyncResult describe the last sync run (zero and ""
	// when none ran); LastSyncSuccess is the end of the last successful one.
	LastSyncEnd     time.Time
	LastSyncResult  string
	LastSyncSuccess time.Time

	// Data quality of the published reports, for the landing page:
	// InvalidValues counts the contacts whose value of each time attribute
	// could not be read (intercom_invalid_attribute_values);
	// BillingExceptions the billing exceptions of BillingMonth; and
	// NoChannel the closed conversations created in BillingMonth's engaged
	// window whose channel is missing or unknown.
	InvalidValues     map[string]int
	BillingMonth      string
	BillingExceptions int
	NoChannel         int
}
