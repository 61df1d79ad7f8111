// Package config turns the container's environment into validated Settings.
//
// It reads nothing but the environment it is given: every variable is documented once, in
// Variables, and every error names the variable and the value it rejected. Nothing here
// touches the file system; deciding whether a chrony.conf was mounted is the caller's job.
package config
