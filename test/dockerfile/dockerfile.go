package dockerfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Instruction is one Dockerfile instruction with its continuation lines joined.
type Instruction struct {
	Cmd  string // upper-case keyword: FROM, RUN, USER...
	Args string // the rest of the line, continuations joined with a space
	Line int    // 1-based line where it starts
	// Raw is the instruction as written, continuation lines included, for copying verbatim.
	Raw string
}

// Healthcheck is a parsed HEALTHCHECK instruction.
type Healthcheck struct {
	Test        []string // exec form: the command and its arguments
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// Runtime is what the final stage declares for the container at run time.
type Runtime struct {
	User        string
	Entrypoint  []string
	Cmd         []string
	Healthcheck *Healthcheck
	StopSignal  string
	Volumes     []string
	Exposed     []string          // "123/udp", in declaration order
	Labels      map[string]string // ${ARG} references left unexpanded
	// Declarations are the final stage's ARG, USER, ENTRYPOINT, CMD, HEALTHCHECK, STOPSIGNAL,
	// EXPOSE, VOLUME, LABEL and ENV instructions as written, in order: another image can repeat
	// them to declare exactly the same.
	Declarations []Instruction
}

// runtimeCmds are the instructions that shape the container rather than build its files.
var runtimeCmds = map[string]bool{
	"ARG": true, "USER": true, "ENTRYPOINT": true, "CMD": true, "HEALTHCHECK": true,
	"STOPSIGNAL": true, "EXPOSE": true, "VOLUME": true, "LABEL": true, "ENV": true,
}

// knownCmds are the instructions this reader accepts; others are an error.
var knownCmds = map[string]bool{
	"FROM": true, "RUN": true, "COPY": true, "WORKDIR": true, "SHELL": true,
}

// ParseFile reads the Dockerfile at path.
func ParseFile(path string) ([]Instruction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	defer f.Close()
	ins, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return ins, nil
}

// Parse splits a Dockerfile into instructions: comment lines dropped, a line ending in a
// backslash continued on the next.
func Parse(r io.Reader) ([]Instruction, error) {
	var (
		out     []Instruction
		cur     *Instruction
		args    []string
		lineNo  int
		scanner = bufio.NewScanner(r)
	)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		lineNo++
		line := scanner.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (cur == nil && trimmed == "") {
			// A comment inside a continued instruction is dropped too, as Docker does.
			continue
		}
		if cur == nil {
			cmd, rest, _ := strings.Cut(trimmed, " ")
			cur = &Instruction{Cmd: strings.ToUpper(cmd), Line: lineNo}
			trimmed = strings.TrimSpace(rest)
		} else {
			cur.Raw += "\n"
		}
		cur.Raw += line
		cont := strings.HasSuffix(trimmed, `\`)
		if cont {
			trimmed = strings.TrimSpace(strings.TrimSuffix(trimmed, `\`))
		}
		if trimmed != "" {
			args = append(args, trimmed)
		}
		if !cont {
			cur.Args = strings.Join(args, " ")
			if !runtimeCmds[cur.Cmd] && !knownCmds[cur.Cmd] {
				return nil, fmt.Errorf("line %d: instruction %s not understood by this reader", cur.Line, cur.Cmd)
			}
			out = append(out, *cur)
			cur, args = nil, nil
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: %s continues past the end of the file", cur.Line, cur.Cmd)
	}
	return out, nil
}

// FinalStage returns the instructions after the last FROM.
func FinalStage(ins []Instruction) ([]Instruction, error) {
	last := -1
	for i, in := range ins {
		if in.Cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	return ins[last+1:], nil
}

// RuntimeOf reads the runtime declarations of the final stage.
func RuntimeOf(ins []Instruction) (*Runtime, error) {
	stage, err := FinalStage(ins)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{Labels: map[string]string{}}
	for _, in := range stage {
		if !runtimeCmds[in.Cmd] {
			continue
		}
		rt.Declarations = append(rt.Declarations, in)
		switch in.Cmd {
		case "USER":
			rt.User = in.Args
		case "STOPSIGNAL":
			rt.StopSignal = in.Args
		case "ENTRYPOINT":
			if rt.Entrypoint, err = execForm(in); err != nil {
				return nil, err
			}
		case "CMD":
			if rt.Cmd, err = execForm(in); err != nil {
				return nil, err
			}
		case "EXPOSE":
			for _, p := range strings.Fields(in.Args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				rt.Exposed = append(rt.Exposed, p)
			}
		case "VOLUME":
			var vols []string
			if strings.HasPrefix(in.Args, "[") {
				if err := json.Unmarshal([]byte(in.Args), &vols); err != nil {
					return nil, fmt.Errorf("line %d: VOLUME: %w", in.Line, err)
				}
			} else {
				vols = strings.Fields(in.Args)
			}
			rt.Volumes = append(rt.Volumes, vols...)
		case "LABEL":
			kv, err := keyValues(in.Args)
			if err != nil {
				return nil, fmt.Errorf("line %d: LABEL: %w", in.Line, err)
			}
			for k, v := range kv {
				rt.Labels[k] = v
			}
		case "HEALTHCHECK":
			if rt.Healthcheck, err = healthcheck(in); err != nil {
				return nil, err
			}
		}
	}
	return rt, nil
}

func execForm(in Instruction) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(in.Args), &argv); err != nil {
		return nil, fmt.Errorf("line %d: %s must use the exec (JSON) form: %w", in.Line, in.Cmd, err)
	}
	return argv, nil
}

var healthFlag = regexp.MustCompile(`^--(interval|timeout|start-period|retries)=(\S+)\s+`)

func healthcheck(in Instruction) (*Healthcheck, error) {
	hc := &Healthcheck{Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 3}
	rest := in.Args
	for {
		m := healthFlag.FindStringSubmatch(rest)
		if m == nil {
			break
		}
		rest = rest[len(m[0]):]
		var err error
		switch m[1] {
		case "retries":
			hc.Retries, err = strconv.Atoi(m[2])
		case "interval":
			hc.Interval, err = time.ParseDuration(m[2])
		case "timeout":
			hc.Timeout, err = time.ParseDuration(m[2])
		case "start-period":
			hc.StartPeriod, err = time.ParseDuration(m[2])
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: HEALTHCHECK --%s=%s: %w", in.Line, m[1], m[2], err)
		}
	}
	cmd, form, ok := strings.Cut(rest, " ")
	if !ok || cmd != "CMD" {
		return nil, fmt.Errorf("line %d: HEALTHCHECK must be CMD [...], got %q", in.Line, rest)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(form)), &hc.Test); err != nil {
		return nil, fmt.Errorf("line %d: HEALTHCHECK CMD must use the exec (JSON) form: %w", in.Line, err)
	}
	return hc, nil
}

// keyValues parses LABEL's key="value" pairs (quoted values may hold spaces).
func keyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("want key=value at %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote after %s=", k)
			}
			v, s = rest[1:end+1], rest[end+2:]
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		out[k] = v
	}
	return out, nil
}
