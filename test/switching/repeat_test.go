package switching

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

// TestRepeatedVariableThroughBinary execs the entrypoint with a repeated variable, as a
// runtime that passes its list through unmerged would (os/exec would keep only the last, so
// this uses os.StartProcess): exit 1, naming the variable, whichever copy libc would pick.
func TestRepeatedVariableThroughBinary(t *testing.T) {
	env := []string{entrypointtest.Path, noMount, "NTP_SERVERS=a.example", "LOG_LEVEL=info", "NTP_SERVERS=b.example"}
	r, w, err := os.Pipe()
	entrypointtest.Must(t, err)
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	entrypointtest.Must(t, err)
	defer devnull.Close()
	p, err := os.StartProcess(bin, []string{bin, "config"}, &os.ProcAttr{Env: env, Files: []*os.File{devnull, devnull, w}})
	w.Close()
	entrypointtest.Must(t, err)
	done := make(chan *os.ProcessState, 1)
	go func() { st, _ := p.Wait(); done <- st }()
	var stderr bytes.Buffer
	readDone := make(chan struct{})
	go func() { _, _ = stderr.ReadFrom(r); close(readDone) }()
	select {
	case st := <-done:
		<-readDone
		want := `NTP_SERVERS="b.example": set 2 times in the environment; set it once`
		if st.ExitCode() != 1 || !strings.Contains(stderr.String(), want) {
			t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", st.ExitCode(), stderr.String(), want)
		}
	case <-time.After(30 * time.Second):
		_ = p.Kill()
		t.Fatal("entrypoint config still running after 30 s")
	}
}
