package main

import "github.com/chris-short/chrony/pkg/config"

func variableNames() []string {
	names := make([]string, 0, len(config.Variables))
	for _, v := range config.Variables {
		names = append(names, v.Name)
	}
	return names
}
