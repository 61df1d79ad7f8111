package config

import (
	"fmt"
	"strings"
)

// MountedConflict reports variables that would be silently ignored because the user mounted
// their own chrony.conf at ChronyConf: nil when none of the rendering variables was set.
func (s *Settings) MountedConflict() error {
	if len(s.RenderVars) == 0 {
		return nil
	}
	them := "them"
	if len(s.RenderVars) == 1 {
		them = "it"
	}
	return fmt.Errorf("CHRONY_CONF %s is mounted, so %s would be ignored: unset %s, or remove the mounted file to render one from the environment",
		s.ChronyConf, andList(s.RenderVars), them)
}

// andList joins names as "A", "A and B", "A, B and C".
func andList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
