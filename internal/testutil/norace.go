//go:build !race

package testutil

// Race says the race detector is on: its shadow memory, never handed
// back, makes a process's RSS no measure of the program's.
const Race = false
