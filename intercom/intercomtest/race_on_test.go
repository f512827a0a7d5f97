//go:build race

package intercomtest

// raceEnabled: timings are not meaningful under the race detector.
const raceEnabled = true
