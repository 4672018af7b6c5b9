//go:build race

package ipc

// raceEnabled scales down tests whose iteration counts are too slow under the race detector.
const raceEnabled = true
