// Package testpb holds Go code generated from proto/testmsgs: messages
// for dividere's own tests and benchmarks, one per scalar type, nested
// ones, and names of several lengths. Regenerate with `make proto`.
package testpb
