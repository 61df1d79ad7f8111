package chronysyntax_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chris-short/chrony/pkg/chronysyntax"
)

// TestParseSource: a source comes back in chrony's syntax (options lower case, numbers
// canonical), or with an error naming the host and what is wrong. The errors are the ones
// config wraps with NTP_SERVERS or NTP_POOLS (its golden files show them in context).
func TestParseSource(t *testing.T) {
	tests := []struct {
		item    string
		want    []string // Host, then the options
		wantErr string
	}{
		{item: "time.example", want: []string{"time.example"}},
		{item: "time.example IBURST maxpoll 010 minpoll -2 offset .5", want: []string{"time.example", "iburst", "maxpoll 10", "minpoll -2", "offset .5"}},
		{item: "192.0.2.1 nts extfield f323 maxsources 4", want: []string{"192.0.2.1", "nts", "extfield F323", "maxsources 4"}},
		{item: "2001:db8::1 key 4294967295", want: []string{"2001:db8::1", "key 4294967295"}},
		{item: "time.example. port 1", want: []string{"time.example.", "port 1"}},

		{item: "time.example bindcmdaddress /tmp/x", wantErr: `time.example: unknown option "bindcmdaddress" (allowed: ` + chronysyntax.SourceOptionList + ")"},
		{item: "time.example iburst iburst", wantErr: "time.example: option iburst is given twice"},
		{item: "time.example maxpoll", wantErr: "time.example: option maxpoll needs a value (an integer -7..24 (a power of 2 in seconds))"},
		{item: "time.example maxpoll 25", wantErr: `time.example: maxpoll "25": out of range; want -7..24 (a power of 2 in seconds)`},
		{item: "time.example port 0x7b", wantErr: `time.example: port "0x7b": not an integer; want 1..65535`},
		{item: "time.example maxdelay 1e3", wantErr: `time.example: maxdelay "1e3": not a decimal number; want 0..1000 seconds`},
		{item: "time.example extfield F324", wantErr: `time.example: extfield "F324": the only extension field chrony supports is F323`},
		{item: "time.example minpoll 11", wantErr: "time.example: minpoll 11 is above maxpoll 10"}, // maxpoll's default
		{item: "time.example minpoll 4 maxpoll 3", wantErr: "time.example: minpoll 4 is above maxpoll 3"},
		{item: "fe80::1%eth0", wantErr: `"fe80::1%eth0": chrony 4.3 cannot use an IPv6 zone (%eth0); give a global address or a host name`},
		{item: "1.2.3", wantErr: `"1.2.3" is not a valid IP address or host name`},
		{item: "[::1]", wantErr: `"[::1]" is not a valid IP address or host name`},
		{item: "a_b.example", wantErr: `"a_b.example" is not a host name: label "a_b" must be 1..63 letters, digits or inner hyphens`},
		{item: "x.123", wantErr: `"x.123" is neither an IPv4 address nor a host name (its last label is numeric)`},
		{item: "0x7f.1", wantErr: `"0x7f.1" is a non-canonical form of the IPv4 address 127.0.0.1 (libc reads it so, and chronyd would drop a duplicate silently): write 127.0.0.1`},
		{item: "0x1ffffffff", wantErr: `"0x1ffffffff" is neither an IPv4 address nor a host name (it is all numbers)`},
		{item: strings.Repeat("a.", 127) + "bc", wantErr: "is not a host name: it must be 1..253 characters"},
		{item: "   ", wantErr: `"   " names no host`},
	}
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			src, err := chronysyntax.ParseSource(tt.item)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSource(%q) = %v, %v; want an error containing %q", tt.item, src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := append([]string{src.Host}, src.Options...); !slices.Equal(got, tt.want) {
				t.Errorf("ParseSource(%q) = %q, want %q", tt.item, got, tt.want)
			}
		})
	}
}

// TestSourceHas: an option is found with or without its value, and not by a prefix of
// another option's name.
func TestSourceHas(t *testing.T) {
	src := chronysyntax.Source{Host: "a.example", Options: []string{"iburst", "maxsources 4", "ntsport 4460"}}
	for option, want := range map[string]bool{"iburst": true, "maxsources": true, "nts": false, "maxpoll": false, "max": false} {
		if got := src.Has(option); got != want {
			t.Errorf("Has(%q) = %v, want %v", option, got, want)
		}
	}
}

// TestParseDirective: each directive of the grammar in chrony's syntax, or the error that
// says which argument is wrong; unknown names are the caller's to explain.
func TestParseDirective(t *testing.T) {
	tests := []struct {
		line    string
		want    string
		wantErr string
	}{
		{line: "rtcsync", want: "rtcsync"},
		{line: "ratelimit", want: "ratelimit"},
		{line: "ratelimit LEAK 2 interval -19", want: "ratelimit leak 2 interval -19"},
		{line: "clientloglimit 100000000", want: "clientloglimit 100000000"},
		{line: "makestep 0.1 -1", want: "makestep 0.1 -1"},
		{line: "leapsecmode SLEW", want: "leapsecmode slew"},
		{line: "minsources 64", want: "minsources 64"},

		{line: "rtcsync makestep", wantErr: `rtcsync takes no arguments (a missing comma before "makestep"?)`},
		{line: "ratelimit burst 0", wantErr: `ratelimit burst "0": out of range; want 1..255`},
		{line: "ratelimit burst 2 burst 3", wantErr: "ratelimit: option burst is given twice"},
		{line: "ratelimit burst", wantErr: "ratelimit: option burst needs a value (an integer 1..255)"},
		{line: "ratelimit rate 2", wantErr: `ratelimit: unknown option "rate"; want ratelimit [interval -19..12] [burst 1..255] [leak 0..4]`},
		{line: "makestep 1", wantErr: "makestep: want makestep THRESHOLD LIMIT (seconds 0..1e9, updates -1..2147483647)"},
		{line: "makestep x 3", wantErr: `makestep "x": not a decimal number; want 0..1000000000 seconds`},
		{line: "leapsecmode smear", wantErr: `leapsecmode "smear": want leapsecmode system|slew|step|ignore`},
		{line: "leapsecmode", wantErr: "leapsecmode: want leapsecmode system|slew|step|ignore"},
		{line: "bindcmdaddress /tmp/s", wantErr: `"bindcmdaddress" is not a directive this grammar knows`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			words := strings.Fields(tt.line)
			if known := chronysyntax.KnownDirective(words[0]); known != (words[0] != "bindcmdaddress") {
				t.Errorf("KnownDirective(%q) = %v", words[0], known)
			}
			got, err := chronysyntax.ParseDirective(words[0], words[1:])
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDirective = %q, %v; want the error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseDirective = %q, want %q", got, tt.want)
			}
			if name := chronysyntax.DirectiveName(got); name != words[0] {
				t.Errorf("DirectiveName(%q) = %q, want %q", got, name, words[0])
			}
		})
	}
}

// TestParseRefclock: a refclock's parameter is checked for its driver and its options come
// back in chrony's syntax, or the error says which word is wrong.
func TestParseRefclock(t *testing.T) {
	tests := []struct {
		line    string // DRIVER PARAM [OPTION ...]
		want    []string
		wantErr string
	}{
		{line: "PHC /dev/ptp0"},
		{line: "PHC /dev/ptp_ena POLL 0 delay 0.000010 prefer", want: []string{"poll 0", "delay 0.000010", "prefer"}},
		{line: "SOCK /run/chrony/gps.sock refid GPS lock PPS", want: []string{"refid GPS", "lock PPS"}},
		{line: "SHM 0 refid NMEA offset 0.5 noselect", want: []string{"refid NMEA", "offset 0.5", "noselect"}},

		{line: "SHM 256", wantErr: `SHM segment "256": want 0..255 (gpsd uses 0..3)`},
		{line: "SHM x", wantErr: `SHM segment "x": want 0..255 (gpsd uses 0..3)`},
		{line: "PHC dev/ptp0", wantErr: `PHC "dev/ptp0": must be an absolute path (such as /dev/ptp0)`},
		{line: "PHC /dev/../dev/ptp0", wantErr: `PHC "/dev/../dev/ptp0": not a clean path; did you mean /dev/ptp0?`},
		{line: "PHC /dev/ptp0:nocrossts", wantErr: `PHC "/dev/ptp0:nocrossts": must not contain ':' or glob characters`},
		{line: "SOCK /" + strings.Repeat("s", 107), wantErr: "108 bytes long; the limit is 107"},
		{line: "GPS /dev/gps0", wantErr: `driver "GPS": want PHC, SOCK or SHM`},
		{line: "PHC /dev/ptp0 poll 1 poll 2", wantErr: "option poll is given twice"},
		{line: "PHC /dev/ptp0 refid", wantErr: "option refid needs a reference id of 1..4 letters or digits"},
		{line: "PHC /dev/ptp0 refid GPS12", wantErr: "option refid needs a reference id of 1..4 letters or digits"},
		{line: "PHC /dev/ptp0 minsamples 3", wantErr: `unknown refclock option "minsamples" (allowed: ` + chronysyntax.RefclockOptionList + ")"},
		{line: "PHC /dev/ptp0 stratum", wantErr: "option stratum needs a value (an integer 0..15)"},
		{line: "PHC /dev/ptp0 precision 2", wantErr: `precision "2": out of range; want 0..1 seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			words := strings.Fields(tt.line)
			got, err := chronysyntax.ParseRefclock(words[0], words[1], words[2:])
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRefclock = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseRefclock = %q, want %q", got, tt.want)
			}
		})
	}
}
