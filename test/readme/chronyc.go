package readme

import (
	"fmt"
	"os"
	"strings"
)

// ChronycCommands returns the chronyc commands the README tells users to run, each as the
// arguments after `docker exec chrony chronyc`, in README order (a trailing # comment removed).
func ChronycCommands() ([][]string, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("read README: %w", err)
	}
	var cmds [][]string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "docker exec chrony chronyc ")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, "#")
		if f := strings.Fields(rest); len(f) > 0 {
			cmds = append(cmds, f)
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("README has no line starting with %q", "docker exec chrony chronyc ")
	}
	return cmds, nil
}
