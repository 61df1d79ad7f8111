package readme

import (
	"fmt"
	"os"
	"strings"
)

// PodmanRunFlags returns the flags of the README's `podman run -d --name chrony ...` command,
// without `-d`, `--name chrony` and the image.
func PodmanRunFlags() ([]string, error) {
	return commandFlags("podman run -d --name chrony ", true)
}

// PodmanComposeArgs returns the arguments of the README's `podman-compose ...` command.
func PodmanComposeArgs() ([]string, error) {
	return commandFlags("podman-compose ", false)
}

// commandFlags returns the words after prefix of the README's first line starting with it, a
// trailing # comment removed; withImage: the line must end with Image, which is removed.
func commandFlags(prefix string, withImage bool) ([]string, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("read README: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, "#")
		f := strings.Fields(rest)
		if !withImage {
			return f, nil
		}
		if len(f) == 0 || f[len(f)-1] != Image {
			return nil, fmt.Errorf("README's %q line does not end with the image %s: %q", prefix, Image, line)
		}
		return f[:len(f)-1], nil
	}
	return nil, fmt.Errorf("README has no line starting with %q", prefix)
}
