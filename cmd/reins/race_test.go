//go:build race

package main

// raceDetector reports that the race detector is on: it slows the pure-Go SQLite engine
// about thirty-fold, so the largest SQLite scenarios run at full size only without it
// (make test runs both).
const raceDetector = true
