package dockerfile_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chris-short/chrony/internal/chronytest"
	"github.com/chris-short/chrony/test/dockerfile"
	"github.com/chris-short/chrony/test/standin"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     *dockerfile.Runtime
		wantErr  string
	}{
		{name: "final stage only", in: "FROM a AS b\nUSER 1\nFROM c\n# comment\nUSER 100:101\n" +
			"ENTRYPOINT [\"/e\"]\nHEALTHCHECK --interval=5s --start-period=1m CMD [\"/e\", \"probe\"]\n" +
			"EXPOSE 123/udp \\\n  9123\nVOLUME [\"/v\"]\nSTOPSIGNAL SIGTERM\nLABEL a=\"x y\" \\\n      b=${V}\n",
			want: &dockerfile.Runtime{User: "100:101", Entrypoint: []string{"/e"}, StopSignal: "SIGTERM",
				Healthcheck: &dockerfile.Healthcheck{Test: []string{"/e", "probe"}, Interval: 5 * time.Second,
					Timeout: 30 * time.Second, StartPeriod: time.Minute, Retries: 3},
				Exposed: []string{"123/udp", "9123/tcp"}, Volumes: []string{"/v"},
				Labels: map[string]string{"a": "x y", "b": "${V}"}}},
		{name: "shell form entrypoint", in: "FROM x\nENTRYPOINT /e run\n", wantErr: "exec (JSON) form"},
		{name: "unknown instruction", in: "FROM x\nONBUILD RUN x\n", wantErr: "not understood"},
		{name: "dangling continuation", in: "FROM x\nRUN a \\\n", wantErr: "past the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := dockerfile.Parse(strings.NewReader(tc.in))
			var rt *dockerfile.Runtime
			if err == nil {
				rt, err = dockerfile.RuntimeOf(ins)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rt.Declarations = nil
			if !reflect.DeepEqual(rt, tc.want) {
				t.Errorf("got  %+v\nwant %+v", rt, tc.want)
			}
		})
	}
}

// TestRealDockerfile checks what the real image's build must do, since it cannot be built here.
func TestRealDockerfile(t *testing.T) {
	ins, err := dockerfile.ParseFile(filepath.Join(chronytest.RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, in := range ins {
		all = append(all, in.Cmd+" "+in.Args)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}"`,
		"apk add --no-cache chrony-nts",
		"chronyd --version | grep -q '+NTS'",
		"rm -f /etc/chrony/chrony.conf",
		// The stand-in sets the same file capability; never one on chronyd.
		"setcap " + standin.EntrypointFileCaps + " " + standin.EntrypointPath,
		`test "$(id -u chrony):$(id -g chrony)" = "100:101"`,
		"COPY --from=build /out/entrypoint " + standin.EntrypointPath,
		"COPY alpine/rootfs/ /",
		// A plain --tmpfs /run/chrony inherits this mode, so UID 100 can write it.
		"install -d -o root -g root -m 1777 /run/chrony",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(text, "; setcap ") != 1 {
		t.Error("exactly one setcap, on the entrypoint")
	}
	rt, err := dockerfile.RuntimeOf(ins)
	if err != nil {
		t.Fatal(err)
	}
	want := &dockerfile.Runtime{
		User: "100:101", Entrypoint: []string{standin.EntrypointPath}, StopSignal: "SIGTERM",
		Exposed: []string{"123/udp", "9123/tcp", "4460/tcp"}, Volumes: []string{"/var/lib/chrony"},
	}
	got := &dockerfile.Runtime{User: rt.User, Entrypoint: rt.Entrypoint, StopSignal: rt.StopSignal, Exposed: rt.Exposed, Volumes: rt.Volumes}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runtime declarations %+v, want %+v", got, want)
	}
	for _, l := range []string{"source", "version", "revision", "licenses"} {
		if rt.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no org.opencontainers.image.%s label", l)
		}
	}
}
