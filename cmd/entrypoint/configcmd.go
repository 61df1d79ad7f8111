package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/config"
)

// configCommand is a dry run of `run`: it decides the start as `run` would (the same
// settings, facts and plan) and prints the plan's chrony.conf, writing and starting nothing.
// Its error is the one `run` would stop on before carrying the plan out, with the same exit
// code.
func configCommand(c *cli.Context, environ []string) error {
	s, err := loadSettings(environ)
	if err != nil {
		return err
	}
	plan, err := decide(c.Context, s, zap.NewNop())
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	_, err = c.App.Writer.Write(plan.Conf)
	return err
}

// variablesHelp lists every environment variable with its default, from config.Variables,
// when args ask for help: every exec (each probe) builds the command line, and the list is
// over 40 entries of formatted text that only help shows.
func variablesHelp(args []string) string {
	if !slices.ContainsFunc(args, func(a string) bool { return a == "help" || a == "h" || a == "-h" || a == "--help" }) {
		return "`entrypoint config --help` lists the environment variables."
	}
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
