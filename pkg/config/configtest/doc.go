// Package configtest holds the table of environments that the config tests check against golden
// files and that chronyconf's fuzz target starts from, so both packages test the same inputs.
package configtest
