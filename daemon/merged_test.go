package daemon_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coaching/intercom_exporter/intercom/intercomtest"
)

// With MAX_SERIES_PER_FAMILY=8 the engagement family of the small
// workspace (employers Acme, Globex and unknown, 4 statuses each: 12
// series) merges the smallest employers until 8 series remain: unknown
// (1 member: c4), then Globex (2: c2, c5); Acme (3: c1, c3, c6) stays.
// The member files learn which employers "(other)" stands for.
func TestMergedEmployers_NamesWhatTheBudgetMerged(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	e := newEnv(srv)
	e["MAX_SERIES_PER_FAMILY"] = "8"
	exp := newExporter(t, e, fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))

	merged := exp.MergedEmployers(exp.Model())
	assert.Equal(t, []string{"Globex", "unknown"}, merged["intercom_engagement_contacts"])
	// Another model (not the published one) gets no answer.
	assert.Nil(t, exp.MergedEmployers(nil))
}

// Without a budget to enforce nothing is merged.
func TestMergedEmployers_NoneWithinBudget(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	assert.Empty(t, exp.MergedEmployers(exp.Model()))
}

// The app id of GET /me reaches the status, for the member links to
// Intercom.
func TestStatus_CarriesWorkspaceID(t *testing.T) {
	srv := startFake(t, smallWorkspace(), intercomtest.Options{})
	exp := newExporter(t, newEnv(srv), fixedNow, nil)
	require.NoError(t, exp.Refresh(context.Background()))
	assert.Equal(t, "coachingdemo", exp.Status().WorkspaceID)
}
