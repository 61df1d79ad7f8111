// Package testbin builds the test-only programs under internal/testbin for tests that need a
// real executable, such as capreport, the stand-in for chronyd in privilege tests.
package testbin
