package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/chris-short/chrony/pkg/config"
	"github.com/chris-short/chrony/pkg/launch"
)

// configCommand prints the chrony.conf `run` would start chronyd with.
func configCommand(c *cli.Context, environ []string) error {
	s, err := loadSettings(environ)
	if err != nil {
		return err
	}
	conf, err := launch.Preview(c.Context, s)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	_, err = c.App.Writer.Write(conf)
	return err
}

// variablesHelp lists every environment variable with its default, from config.Variables.
func variablesHelp() string {
	var b strings.Builder
	b.WriteString("ENVIRONMENT VARIABLES (default in brackets):\n")
	for _, v := range config.Variables {
		def := v.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(&b, "  %-20s [%s]\n      %s\n", v.Name, def, strings.ReplaceAll(v.Description, "`", ""))
	}
	return b.String()
}
