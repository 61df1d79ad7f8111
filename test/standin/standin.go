package standin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/chris-short/chrony/internal/entrypointtest"
	"github.com/chris-short/chrony/test/dockerfile"
)

// Paths inside the image, the same as in the real image.
const (
	EntrypointPath = "/usr/local/bin/entrypoint"
	ChronydPath    = "/usr/sbin/chronyd"
	// CapreportPath is the stand-in-only capability reporter.
	CapreportPath = "/usr/local/bin/capreport"
)

// The chrony user and group of the image.
const (
	ChronyUID = 100
	ChronyGID = 101
)

// EntrypointFileCaps is the file capability the real Dockerfile sets on the entrypoint.
const EntrypointFileCaps = "cap_sys_time,cap_net_bind_service+p"

// ChronyVersion is the chrony release the stand-in carries: Debian sid's 4.9, the closest of
// the releases scripts/fetch-chrony.sh offers to the real image's Alpine 4.8 (the same chronyc
// root drop and hidden client socket directory, the same reply shapes, a current NTS).
const ChronyVersion = "4.9"

// ChronycUser is the user Debian's chronyc and chronyd are compiled to drop root to (Alpine's are
// compiled with "chrony"): the stand-in names uid 100 both ways, so that `chronyc` run as root
// in `docker exec` drops to uid 100 as it does in the real image.
const ChronycUser = "_chrony"

// Options say what to build from.
type Options struct {
	Repo string // repository root
	// ChronyRoot is chrony ChronyVersion with its libraries extracted by scripts/fetch-chrony.sh
	// (.cache/chrony/VERSION/root); empty means FetchChrony's.
	ChronyRoot string
	Tag        string // image name:tag to build
	WorkDir    string // scratch space, removed by the caller
}

// FetchChrony runs scripts/fetch-chrony.sh for ChronyVersion (a no-op when cached) and returns
// the extracted root the stand-in is built from.
func FetchChrony(ctx context.Context, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", "fetch-chrony.sh"), ChronyVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		return "", fmt.Errorf("scripts/fetch-chrony.sh %s: %w: %s", ChronyVersion, err, stderr.String())
	}
	return filepath.Join(repo, ".cache", "chrony", ChronyVersion, "root"), nil
}

// Build builds the stand-in image and returns its Dockerfile (for the log). It compiles the
// entrypoint and, when its sources exist, the capability reporter.
func Build(ctx context.Context, o Options) (string, error) {
	rootfs := filepath.Join(o.WorkDir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return "", fmt.Errorf("create stand-in rootfs: %w", err)
	}
	bin := filepath.Join(rootfs, "usr", "local", "bin")
	if err := goBuild(ctx, o.Repo, "./cmd/entrypoint", filepath.Join(bin, "entrypoint")); err != nil {
		return "", err
	}
	if hasGo(filepath.Join(o.Repo, "internal", "testbin", "capreport")) {
		if err := goBuild(ctx, o.Repo, "./internal/testbin/capreport", filepath.Join(bin, "capreport")); err != nil {
			return "", err
		}
	}
	// The same +p capabilities as the real image (see the Dockerfile for why these two).
	if err := run(ctx, "", nil, "setcap", EntrypointFileCaps, filepath.Join(bin, "entrypoint")); err != nil {
		return "", err
	}
	if o.ChronyRoot == "" {
		var err error
		if o.ChronyRoot, err = FetchChrony(ctx, o.Repo); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"usr/sbin/chronyd", "usr/bin/chronyc"} {
		if err := copyWithLibs(ctx, o.ChronyRoot, filepath.Join(o.ChronyRoot, f), rootfs, "/"+f); err != nil {
			return "", err
		}
	}
	// The DaemonSet's init container runs /bin/chown (busybox's in the real image): the build
	// machine's coreutils chown stands in for it, with chrony's libc (newer than its own).
	if err := copyWithLibs(ctx, o.ChronyRoot, "/bin/chown", rootfs, "/bin/chown"); err != nil {
		return "", err
	}
	if err := writeSkeleton(rootfs); err != nil {
		return "", err
	}
	// The image-only files, as the real Dockerfile's COPY alpine/rootfs/ / does.
	if err := run(ctx, "", nil, "cp", "-a", filepath.Join(o.Repo, "alpine", "rootfs")+"/.", rootfs); err != nil {
		return "", err
	}

	imported := o.Tag + "-rootfs"
	// --xattrs keeps security.capability on the entrypoint; --numeric-owner keeps 100:101.
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=security.capability",
		"-C", rootfs, "-cf", "-", ".")
	importCmd := exec.CommandContext(ctx, "docker", "import", "-", imported)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("pack stand-in rootfs: %w", err)
	}
	importCmd.Stdin = pipe
	var importErr bytes.Buffer
	importCmd.Stderr = &importErr
	tarCmd.Stderr = &importErr
	if err := importCmd.Start(); err != nil {
		return "", fmt.Errorf("docker import: %w", err)
	}
	if err := tarCmd.Run(); err != nil {
		return "", fmt.Errorf("pack stand-in rootfs: %w: %s", err, importErr.String())
	}
	if err := importCmd.Wait(); err != nil {
		return "", fmt.Errorf("docker import: %w: %s", err, importErr.String())
	}

	ins, err := dockerfile.ParseFile(filepath.Join(o.Repo, "Dockerfile"))
	if err != nil {
		return "", err
	}
	rt, err := dockerfile.RuntimeOf(ins)
	if err != nil {
		return "", err
	}
	df := StandinDockerfile(imported, rt)
	build := exec.CommandContext(ctx, "docker", "build", "--quiet", "-t", o.Tag, "-")
	// The legacy builder: this machine has no buildx, and it needs no context for FROM+metadata.
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader(df)
	if out, err := build.CombinedOutput(); err != nil {
		return df, fmt.Errorf("docker build stand-in: %w: %s", err, out)
	}
	return df, nil
}

// StandinDockerfile is the stand-in's Dockerfile: FROM the imported rootfs, then the real
// Dockerfile's runtime declarations as written.
func StandinDockerfile(from string, rt *dockerfile.Runtime) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", from)
	for _, d := range rt.Declarations {
		b.WriteString(d.Raw)
		b.WriteString("\n")
	}
	return b.String()
}

func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

func goBuild(ctx context.Context, repo, pkg, out string) error {
	env := append(os.Environ(), "CGO_ENABLED=0")
	return run(ctx, repo, env, "go", "build", "-trimpath", "-tags", entrypointtest.BuildTags, "-ldflags=-s -w", "-o", out, pkg)
}

func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// copyWithLibs copies the executable src to dst inside rootfs, with every shared library it
// needs and the loader, taken from chronyRoot (which holds chrony's own glibc): each at its path
// inside chronyRoot, the loader also at the path the executable names (PT_INTERP).
func copyWithLibs(ctx context.Context, chronyRoot, src, rootfs, dst string) error {
	if err := copyFile(src, filepath.Join(rootfs, dst), 0o755); err != nil {
		return err
	}
	root, err := filepath.Abs(chronyRoot)
	if err != nil {
		return fmt.Errorf("copy %s into stand-in rootfs: %w", src, err)
	}
	loaders, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "*", "ld-linux*.so.*"))
	if len(loaders) == 0 {
		return fmt.Errorf("copy %s into stand-in rootfs: no ld-linux loader under %s/usr/lib", src, root)
	}
	libDir := filepath.Dir(loaders[0])
	out, err := exec.CommandContext(ctx, loaders[0], "--library-path", libDir, "--list", src).CombinedOutput()
	if err != nil {
		return fmt.Errorf("list the libraries of %s with %s: %w: %s", src, loaders[0], err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, after, ok := strings.Cut(strings.TrimSpace(line), " => ")
		if !ok {
			continue // linux-vdso.so.1 has no file
		}
		lib, _, _ := strings.Cut(after, " ")
		if lib == "not" || !strings.HasPrefix(lib, root+"/") {
			return fmt.Errorf("%s needs %s, which %s does not hold: %s", src, name, root, strings.TrimSpace(line))
		}
		inRoot := strings.TrimPrefix(lib, root)
		if err := copyFile(lib, filepath.Join(rootfs, inRoot), 0o755); err != nil {
			return err
		}
		if filepath.IsAbs(name) && name != inRoot { // the loader, as the executable names it
			if err := copyFile(lib, filepath.Join(rootfs, name), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src) // follows symlinks: the library itself under the link's name
	if err != nil {
		return fmt.Errorf("copy into stand-in rootfs: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy into stand-in rootfs: %w", err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return fmt.Errorf("copy into stand-in rootfs: %w", err)
	}
	return nil
}

// writeSkeleton writes the files and directories the real image gets from Alpine and the
// Dockerfile: users, the drop-in dir from alpine/rootfs, the state dir owned by chrony, the run
// dir owned by root (the entrypoint makes chronyd's own subdirectory).
func writeSkeleton(rootfs string) error {
	files := map[string]string{
		// chrony first: uid 100's name is "chrony" as in the real image; ChronycUser second.
		"etc/passwd": fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nchrony:x:%d:%d:chrony:/var/lib/chrony:/sbin/nologin\n%s:x:%d:%d:chrony:/var/lib/chrony:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
			ChronyUID, ChronyGID, ChronycUser, ChronyUID, ChronyGID),
		"etc/group": fmt.Sprintf("root:x:0:root\nchrony:x:%d:chrony\nnogroup:x:65534:\n", ChronyGID),
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Join(rootfs, filepath.Dir(name)), 0o755); err != nil {
			return fmt.Errorf("write stand-in %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write stand-in %s: %w", name, err)
		}
	}
	dirs := []struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}{
		{"var/lib/chrony", ChronyUID, ChronyGID, 0o750},
		{"run/chrony", 0, 0, 0o777 | os.ModeSticky}, // as the Dockerfile: a --tmpfs here inherits the mode
		{"etc/chrony/conf.d", 0, 0, 0o755},
		{"tmp", 0, 0, 0o777 | os.ModeSticky},
	}
	for _, d := range dirs {
		p := filepath.Join(rootfs, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create stand-in %s: %w", d.path, err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return fmt.Errorf("chown stand-in %s: %w", d.path, err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod stand-in %s: %w", d.path, err)
		}
	}
	return nil
}
