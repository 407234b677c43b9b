//go:build race

package bench

// raceEnabled is true under -race, where sync.Pool drops items at random
// and allocation counts mean nothing.
const raceEnabled = true
