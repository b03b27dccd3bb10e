// Package apisize holds the test that keeps dividere's public API small:
// it counts what the library exports and fails when a package's count
// passes its budget. See apisize_test.go for what is counted.
package apisize
