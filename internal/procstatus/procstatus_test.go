package procstatus

import (
	"os"
	"strconv"
	"testing"
)

func TestReadSelf(t *testing.T) {
	for _, pid := range []int{0, os.Getpid()} {
		st, err := Read(pid)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.First("Uid"), strconv.Itoa(os.Getuid()); got != want {
			t.Errorf("pid %d: Uid %q, want %q", pid, got, want)
		}
		if got, want := st.First("Pid"), strconv.Itoa(os.Getpid()); got != want {
			t.Errorf("pid %d: Pid %q, want %q", pid, got, want)
		}
		if len(st["CapEff"]) != 16 {
			t.Errorf("pid %d: CapEff %q is not a 16-digit mask", pid, st["CapEff"])
		}
		if kb, err := st.RSSKiB(); err != nil || kb <= 0 {
			t.Errorf("pid %d: RSSKiB = %d, %v", pid, kb, err)
		}
	}
	if _, err := Read(-1); err == nil {
		t.Error("Read(-1) succeeded")
	}
}
