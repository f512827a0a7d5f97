//go:build race

package web

// raceEnabled is true under -race, where every memory access is checked
// and a large file costs several times more to write.
const raceEnabled = true
