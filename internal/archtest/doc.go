// Package archtest holds no code, only a test that keeps
// docs/ARCHITECTURE.md true: the import rules between packetd's packages,
// and a doc comment on every package.
package archtest
