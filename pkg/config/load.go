package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/zapcore"

	"github.com/chris-short/chrony/pkg/chronysyntax"
	"github.com/chris-short/chrony/pkg/rundir"
)

// maxValueLen bounds every value: the longest legitimate one (a list of sources) is far shorter,
// and error messages quote only the start of a longer one.
const maxValueLen = 4096

// VarError is a problem with one variable's value. Its text names the variable and quotes the
// value so that the user can find it in their compose file or pod spec.
type VarError struct {
	Name  string
	Value string
	Err   error
}

func (e *VarError) Error() string {
	return fmt.Sprintf("%s=%s: %v", e.Name, quote(e.Value), e.Err)
}

func (e *VarError) Unwrap() error { return e.Err }

// quote shows a value safely: escaped, and cut short when long.
func quote(v string) string {
	const show = 64
	if len(v) > show {
		return strconv.QuoteToASCII(v[:show]) + fmt.Sprintf("...(%d bytes)", len(v))
	}
	return strconv.QuoteToASCII(v)
}

// env is the environment as Load sees it: our variables after normalize (one surrounding pair
// of quotes stripped, empty ones removed), everything else as given.
type env map[string]string

func (e env) lookup(name string) (string, bool) { v, ok := e[name]; return v, ok }

// Load turns an environment (os.Environ form) into validated Settings. It reports every problem
// at once, joined, each naming its variable. It reads nothing but environ. What it decided on
// the user's behalf without an error (an empty variable treated as unset) is in
// Settings.Notices, for the caller to log.
func Load(environ []string) (*Settings, error) {
	e := env{}
	var order []string
	count := map[string]int{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if count[name]++; count[name] == 1 {
			order = append(order, name)
		}
		e[name] = value
	}
	var errs []error
	// A repeated name has no obvious winner: libc's getenv and Go's os.Getenv take the first,
	// os/exec's Cmd.Env the last. Ours must be given once.
	for _, name := range order {
		if count[name] > 1 && isOurs(name) {
			errs = append(errs, &VarError{Name: name, Value: e[name],
				Err: fmt.Errorf("set %d times in the environment; set it once", count[name])})
		}
	}
	l := &loader{env: e}
	l.normalize(order)
	s := l.settings()
	s.Notices = l.notices
	errs = append(append(errs, nearMisses(order, e)...), l.errs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

type loader struct {
	env     env
	errs    []error
	set     []string // our variables that were set, in Variables order
	notices []string
	sysclk  ClockControl // what a valid ENABLE_SYSCLK means; "" when unset or invalid
}

func (l *loader) fail(name, value string, err error) {
	l.errs = append(l.errs, &VarError{Name: name, Value: value, Err: err})
}

// normalize makes our variables read the way the other images read them: one surrounding pair
// of matching quotes is stripped (compose's list form `- NTP_SERVERS="a,b"` keeps them), and a
// variable set but empty is unset (compose's ${VAR} of an unset VAR gives exactly that). The
// latter is said once in Notices, since it hides a typo as well as it helps compose.
func (l *loader) normalize(order []string) {
	for _, name := range order {
		if !isOurs(name) {
			continue
		}
		v := l.env[name]
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			l.env[name] = v
		}
		if strings.Trim(v, " ") == "" {
			delete(l.env, name)
			l.notices = append(l.notices, fmt.Sprintf("%s is set but empty: treated as unset (default: %s)", name, defaultText(name)))
		}
	}
}

// get returns a variable's value, or its default when unset. A set value is screened for
// characters that have no business in any of our values.
func (l *loader) get(name string) (value string, set, ok bool) {
	v, present := l.env.lookup(name)
	if !present {
		return defaultOf(name), false, true
	}
	l.set = append(l.set, name)
	if name == "READY_MAX_DISTANCE" {
		// µ is the SI symbol for micro, and what Go prints for a duration (500µs); Go also
		// parses the Greek mu. Only as the unit µs: anywhere else it is still a look-alike.
		v = microUnit.Replace(v)
	}
	if name == "NTP_DIRECTIVES" {
		// simonrupf/docker-chronyd's image sets NTP_DIRECTIVES="ratelimit\nrtcsync" for
		// its shell's echo -e: the two characters \n separate items, like a comma.
		v = strings.ReplaceAll(v, `\n`, ",")
	}
	if err := screen(v); err != nil {
		l.fail(name, v, err)
		return "", true, false
	}
	return v, true, true
}

// screen rejects what could end a chrony.conf line, start a comment, or hide a look-alike.
func screen(v string) error {
	if len(v) > maxValueLen {
		return fmt.Errorf("%d bytes long; the limit is %d", len(v), maxValueLen)
	}
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == '\n':
			return fmt.Errorf("contains a newline at byte %d; values are single-line", i)
		case r == 0:
			return fmt.Errorf("contains a NUL byte at byte %d", i)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("contains control character %U at byte %d", r, i)
		case r >= 0x80:
			return fmt.Errorf("contains non-ASCII character %U at byte %d (a look-alike of an ASCII one?); only ASCII is accepted", r, i)
		case r == '#' || r == '"' || r == '\'' || r == '`' || r == '\\':
			return fmt.Errorf("contains %q at byte %d; no quoting or comments are needed, remove it", r, i)
		}
		i += size
	}
	return nil
}

func (l *loader) settings() *Settings {
	s := &Settings{}

	bareIburst := l.boolean("NTP_IBURST") // default true
	seen := map[string]string{}
	s.TimeSource = l.timeSource()
	for _, src := range providerServers[s.TimeSource] {
		seen[hostKey(src.Host)] = "TIME_SOURCE"
	}
	servers, sSet, sOK := l.get("NTP_SERVERS")
	if sSet && sOK {
		var errs []error
		s.Servers, errs = parseSources(servers, seen, "NTP_SERVERS")
		for _, err := range errs {
			l.fail("NTP_SERVERS", servers, err)
		}
	}
	pools, pSet, pOK := l.get("NTP_POOLS")
	// The default pool is a fallback for no sources at all: a provider's smeared service
	// replaces it (the pool does not smear); Azure's host clock keeps it.
	if pOK && (pSet || (!sSet && len(providerServers[s.TimeSource]) == 0)) {
		var errs []error
		s.Pools, errs = parseSources(pools, seen, "NTP_POOLS")
		for _, err := range errs {
			l.fail("NTP_POOLS", pools, err)
		}
	}

	if bareIburst {
		addIburst(s.Servers)
		addIburst(s.Pools)
	}
	s.Servers = append(append([]chronysyntax.Source(nil), providerServers[s.TimeSource]...), s.Servers...)

	s.EnableNTS = l.boolean("ENABLE_NTS")
	s.NoClientLog = l.boolean("NOCLIENTLOG")

	if v, _, ok := l.get("ALLOW"); ok {
		s.Allow, s.AllowAll = l.allow(v)
	}

	if v, _, ok := l.get("LOCAL_STRATUM"); ok {
		if strings.EqualFold(v, "off") {
			s.LocalStratum = 0
		} else if n, err := intIn(v, 1, 15); err != nil {
			l.fail("LOCAL_STRATUM", v, fmt.Errorf("%w; want 1..15 or off", err))
		} else {
			s.LocalStratum = n
		}
	}

	clockV, clockSet, clockOK := l.get("CLOCK_CONTROL")
	if clockOK {
		switch c := ClockControl(strings.ToLower(clockV)); c {
		case ClockAuto, ClockOn, ClockOff:
			s.ClockControl = c
		default:
			l.fail("CLOCK_CONTROL", clockV, errors.New("want auto, on or off"))
			clockOK = false
		}
	}
	// ENABLE_SYSCLK is dockur's and simonrupf's switch: true runs chronyd without -x (it
	// then needs CAP_SYS_TIME: our "on"), false with -x (our "off").
	if v, set, ok := l.get("ENABLE_SYSCLK"); set && ok {
		if b, valid := parseBool(v); !valid {
			l.fail("ENABLE_SYSCLK", v, errors.New("want true or false (also 1/0, yes/no); it is CLOCK_CONTROL=on or off"))
		} else {
			want := ClockOff
			if b {
				want = ClockOn
			}
			if clockOK && !clockSet {
				s.ClockControl = want
			}
			l.sysclk = want
		}
	}

	if v, _, ok := l.get("NTP_PORT"); ok {
		if isKubeServiceLink(v) {
			l.fail("NTP_PORT", v, errors.New("this is a Kubernetes service link (a Service named ntp exists in the namespace), not a port: set enableServiceLinks: false in the pod spec, or set NTP_PORT explicitly"))
		} else if n, err := intIn(v, 1, 65535); err != nil {
			l.fail("NTP_PORT", v, fmt.Errorf("%w; want a UDP port 1..65535", err))
		} else {
			s.NTPPort = n
		}
	}

	if v, _, ok := l.get("LOG_LEVEL"); ok {
		levels := map[string]zapcore.Level{"debug": zapcore.DebugLevel, "info": zapcore.InfoLevel, "warn": zapcore.WarnLevel, "error": zapcore.ErrorLevel,
			"0": zapcore.InfoLevel, "1": zapcore.WarnLevel, "2": zapcore.ErrorLevel, "3": zapcore.ErrorLevel}
		if lv, found := levels[strings.ToLower(v)]; found {
			s.LogLevel = lv
		} else {
			l.fail("LOG_LEVEL", v, errors.New("want debug, info, warn or error (or chronyd's 0..3)"))
		}
	}
	if v, _, ok := l.get("LOG_FORMAT"); ok {
		switch f := strings.ToLower(v); f {
		case "json", "console":
			s.LogFormat = f
		default:
			l.fail("LOG_FORMAT", v, errors.New("want json or console"))
		}
	}

	s.Chronyd = l.path("CHRONYD")
	s.ChronyConf = l.path("CHRONY_CONF")
	s.ChronyConfDir = l.path("CHRONY_CONF_DIR")
	s.StateDir = l.path("STATE_DIR")
	if s.RunDir = l.path("RUN_DIR"); s.RunDir != "" {
		if err := rundir.New(s.RunDir, s.StateDir).CheckSocket(); err != nil {
			l.fail("RUN_DIR", s.RunDir, err)
		}
	}

	if v, _, ok := l.get("CHRONY_USER"); ok {
		if !isUserName(v) {
			l.fail("CHRONY_USER", v, errors.New("not a user name (letters, digits, '.', '_', '-', not starting with '-', at most 32)"))
		} else {
			s.ChronyUser = v
		}
	}

	if v, _, ok := l.get("HTTP_ADDR"); ok {
		if strings.EqualFold(v, "off") {
			s.HTTPAddr = ""
		} else if err := checkHostPort(v); err != nil {
			l.fail("HTTP_ADDR", v, fmt.Errorf("%w; want host:port, :port or off", err))
		} else {
			s.HTTPAddr = v
		}
	}

	if v, _, ok := l.get("READY_MAX_DISTANCE"); ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			l.fail("READY_MAX_DISTANCE", v, errors.New("not a Go duration such as 1s or 250ms"))
		case d <= 0:
			l.fail("READY_MAX_DISTANCE", v, errors.New("must be above zero"))
		default:
			s.ReadyMaxDistance = d
		}
	}
	s.ReadyAllowLocal = l.boolean("READY_ALLOW_LOCAL")
	s.MetricsGoProcess = l.boolean("METRICS_GO_PROCESS")

	s.NTSServerCert = l.path("NTS_SERVER_CERT")
	s.NTSServerKey = l.path("NTS_SERVER_KEY")
	if v, _, ok := l.get("NTS_PORT"); ok {
		switch n, err := intIn(v, 1024, 65535); {
		case isKubeServiceLink(v):
			l.fail("NTS_PORT", v, errors.New("this is a Kubernetes service link (a Service named nts exists in the namespace), not a port: set enableServiceLinks: false in the pod spec, or set NTS_PORT explicitly"))
		case err != nil:
			l.fail("NTS_PORT", v, fmt.Errorf("%w; want a TCP port 1024..65535 (a lower one would need CAP_NET_BIND_SERVICE)", err))
		default:
			s.NTSPort = n
		}
	}
	l.ntsFleet(s)

	if v, _, ok := l.get("IP_FAMILY"); ok {
		switch f := IPFamily(strings.ToLower(v)); f {
		case FamilyAuto, Family4, Family6, FamilyDual:
			s.IPFamily = f
		default:
			l.fail("IP_FAMILY", v, errors.New("want auto, 4, 6 or dual"))
		}
	}

	if v, set, ok := l.get("NTP_DIRECTIVES"); set && ok {
		s.Directives = l.parseDirectives(v, s.NoClientLog)
	}

	l.refclock(s)
	l.validate(s)

	for _, v := range Variables {
		if v.Renders && slices.Contains(l.set, v.Name) {
			s.RenderVars = append(s.RenderVars, v.Name)
		}
	}
	return s
}

var microUnit = strings.NewReplacer("\u00b5s", "us", "\u03bcs", "us")

// valid says whether name had no error so far (so follow-up checks do not pile on).
func (l *loader) valid(name string) bool {
	for _, err := range l.errs {
		var ve *VarError
		if errors.As(err, &ve) && ve.Name == name {
			return false
		}
	}
	return true
}

func (l *loader) boolean(name string) bool {
	v, _, ok := l.get(name)
	if !ok {
		return false
	}
	b, valid := parseBool(v)
	if !valid {
		l.fail(name, v, errors.New("want true or false (also 1/0, yes/no)"))
	}
	return b
}

func parseBool(v string) (b, valid bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// addIburst gives a source listed as a bare host the option cturra's and dockur's images add
// to every host: without it chronyd's first sync takes minutes instead of seconds.
func addIburst(srcs []chronysyntax.Source) {
	for i := range srcs {
		if len(srcs[i].Options) == 0 {
			srcs[i].Options = []string{"iburst"}
		}
	}
}

// checkFamily (a rule) rejects an IP literal among the sources that chronyd cannot reach with the
// IP_FAMILY chosen (chronyd -4 or -6 drops such a source without a word).
func (l *loader) checkFamily(s *Settings) {
	if s.IPFamily != Family4 && s.IPFamily != Family6 {
		return
	}
	for _, host := range s.OffFamilySources() {
		name := "NTP_POOLS"
		for _, src := range s.Servers {
			if src.Host == host {
				name = "NTP_SERVERS"
			}
		}
		v, set := l.env.lookup(name)
		if !set {
			v = defaultOf(name)
		}
		l.fail(name, v, fmt.Errorf("%s is an IP address chronyd cannot use with IP_FAMILY=%s (chronyd -%s ignores it)", host, s.IPFamily, s.IPFamily))
	}
}

// path accepts an absolute, clean path that can stand as one word in chrony.conf: no spaces,
// and no glob characters since `include` treats its argument as a pattern.
func (l *loader) path(name string) string {
	v, set, ok := l.get(name)
	if !ok || (!set && v == "") {
		return ""
	}
	switch {
	case !filepath.IsAbs(v):
		l.fail(name, v, errors.New("must be an absolute path"))
	case filepath.Clean(v) != v:
		l.fail(name, v, fmt.Errorf("not a clean path; did you mean %s?", filepath.Clean(v)))
	case strings.ContainsAny(v, " *?[]{}"):
		l.fail(name, v, errors.New("must not contain spaces or glob characters (* ? [ ] { })"))
	default:
		return v
	}
	return ""
}

func (l *loader) allow(v string) (list []string, all bool) {
	switch strings.ToLower(v) {
	case "all":
		return nil, true
	case "none":
		return nil, false
	}
	items := strings.Split(v, ",")
	seen := map[string]bool{}
	for i, item := range items {
		item = strings.Trim(item, " ")
		var p netip.Prefix
		var err error
		switch {
		case item == "":
			l.fail("ALLOW", v, fmt.Errorf("item %d of %d is empty (a stray comma?)", i+1, len(items)))
			continue
		case strings.EqualFold(item, "all") || strings.EqualFold(item, "none"):
			l.fail("ALLOW", v, fmt.Errorf("%s cannot be combined with addresses; use it alone", item))
			continue
		case strings.Contains(item, "/"):
			p, err = netip.ParsePrefix(item)
		default:
			var a netip.Addr
			if a, err = netip.ParseAddr(item); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			l.fail("ALLOW", v, fmt.Errorf("%q is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)", item))
			continue
		}
		if p.Addr().Zone() != "" {
			l.fail("ALLOW", v, fmt.Errorf("%q: chrony does not accept an IPv6 zone in allow", item))
			continue
		}
		if p.Masked() != p {
			l.fail("ALLOW", v, fmt.Errorf("%q has host bits set; did you mean %s?", item, p.Masked()))
			continue
		}
		text := p.Addr().String()
		if p.Bits() != p.Addr().BitLen() {
			text = p.String()
		}
		if seen[text] {
			l.fail("ALLOW", v, fmt.Errorf("%s is listed twice", text))
			continue
		}
		seen[text] = true
		list = append(list, text)
	}
	return list, false
}

func intIn(v string, lo, hi int) (int, error) {
	if !isInt(v) {
		return 0, errors.New("not an integer")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errors.New("out of range")
	}
	return n, nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("not host:port")
	}
	if _, err := intIn(port, 1, 65535); err != nil {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Contains(host, ":") || chronysyntax.CheckHost(host) != nil {
		return fmt.Errorf("host %q is not an IP address or host name", host)
	}
	return nil
}
