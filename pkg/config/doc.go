// Package config turns the container's environment into validated Settings.
//
// It reads nothing but the environment it is given: every variable is documented once, in
// Variables, and every error names the variable and the value it rejected. Nothing here
// touches the file system; deciding whether a chrony.conf was mounted is the caller's job.
// chrony's own syntax for a source, a directive or a refclock is package chronysyntax's: config
// splits the variables into items, applies their defaults and cross-variable rules, and names
// the variable in every error the grammar returns.
package config
