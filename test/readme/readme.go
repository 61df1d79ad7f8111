package readme

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Image is the image name the README's commands use.
const Image = "ghcr.io/chris-short/chrony"

// Path is README.md at the repository root.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "README.md")
}

// DockerRunFlags returns the flags of the README's first `docker run -d --name chrony ...`
// command, without `-d`, `--name chrony` and the image: what the end-to-end tests run.
func DockerRunFlags() ([]string, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("read README: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "docker run -d --name chrony ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 || f[len(f)-1] != Image {
			return nil, fmt.Errorf("README's docker run line does not end with the image %s: %q", Image, line)
		}
		return f[:len(f)-1], nil
	}
	return nil, fmt.Errorf("README has no line starting with %q", "docker run -d --name chrony ")
}
