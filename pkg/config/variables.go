package config

import "github.com/chris-short/chrony/pkg/chronysyntax"

// Variable documents one environment variable the entrypoint reads.
type Variable struct {
	Name        string
	Default     string // as the user would write it; "" when unset means "none"
	Description string
	// Renders: the variable shapes a rendered chrony.conf, so setting it together with a
	// mounted CHRONY_CONF is an error (Settings.RenderVars, MountedConflict).
	Renders bool
	// Unset is what leaving the variable unset means, when Default cannot say it.
	Unset string
}

// Variables is the one place every variable is named and documented: Load reads exactly these,
// the README's table is built from them, and near-miss detection compares unknown names with them.
var Variables = []Variable{
	{"NTP_SERVERS", "", "Comma-separated NTP servers, each `HOST [OPTION ...]` in chrony's source syntax (options: " + chronysyntax.SourceOptionList + "). When both NTP_SERVERS and NTP_POOLS are unset: `NTP_POOLS=pool.ntp.org iburst`.", true, "none; NTP_POOLS=pool.ntp.org iburst when both are unset"},
	{"NTP_POOLS", "pool.ntp.org iburst", "Comma-separated NTP pools, same syntax as NTP_SERVERS.", true, ""},
	{"NTP_IBURST", "true", "Add `iburst` to every NTP_SERVERS or NTP_POOLS entry given as a bare host (as cturra's and dockur's images do): first sync in seconds instead of minutes. `false` writes bare hosts as given.", true, ""},
	{"ENABLE_NTS", "false", "Add `nts` (Network Time Security) to every source.", true, ""},
	{"NOCLIENTLOG", "false", "Do not log client accesses (saves memory; disables interleaved mode for clients).", true, ""},
	{"ALLOW", "all", "Who may use this server: `all` (IPv4 and IPv6), `none` (client only, no NTP port), or comma-separated IP addresses and CIDRs.", true, ""},
	{"LOCAL_STRATUM", "10", "Stratum (1..15) served from the local clock when no source is reachable, or `off`.", true, ""},
	{"CLOCK_CONTROL", "auto", "`auto`: discipline the system clock when CAP_SYS_TIME is available, else serve only; `on`: require it; `off`: never (chronyd -x).", false, ""},
	{"ENABLE_SYSCLK", "", "dockur's and simonrupf's switch, accepted: `true` is CLOCK_CONTROL=on, `false` is CLOCK_CONTROL=off; setting both differently is an error.", false, ""},
	{"NTP_DIRECTIVES", "", "Extra chrony directives, comma-separated (dockur's form; simonrupf's `\\n` separator works too), from an allow-list: " + directiveList + ". Each replaces the rendered line of the same name (`makestep`, `ratelimit`, `clientloglimit`) or is added after the rendered ones.", true, ""},
	{"IP_FAMILY", "auto", "`4` (chronyd -4), `6` (chronyd -6), `dual`, or `auto`: dual, or IPv4 only when the host has IPv6 disabled (/proc/net/if_inet6 missing or net.ipv6.conf.all.disable_ipv6=1).", false, ""},
	{"NTP_PORT", "123", "UDP port chronyd serves NTP on (1..65535).", true, ""},
	{"LOG_LEVEL", "info", "`debug`, `info`, `warn` or `error` (cturra's 0..3 are accepted: 0=info, 1=warn, 2 and 3=error).", false, ""},
	{"LOG_FORMAT", "json", "`json` or `console`.", false, ""},
	{"CHRONYD", "/usr/sbin/chronyd", "Path of the chronyd binary.", false, ""},
	{"CHRONY_CONF", "/etc/chrony/chrony.conf", "A file mounted here is used as is instead of rendering one from the environment.", false, ""},
	{"CHRONY_CONF_DIR", "/etc/chrony/conf.d", "Directory of drop-in `*.conf` files chronyd reads after the rendered settings.", false, ""},
	{"STATE_DIR", "/var/lib/chrony", "Writable directory for the drift file and NTS keys and cookies.", false, ""},
	{"RUN_DIR", "/run/chrony", "Writable directory for the rendered chrony.conf, chronyd's command socket and pidfile.", false, ""},
	{"CHRONY_USER", "chrony", "User chronyd runs as (looked up by name).", false, ""},
	{"HTTP_ADDR", ":9123", "`host:port` serving /healthz, /readyz and /metrics, or `off`.", false, ""},
	{"READY_MAX_DISTANCE", "1s", "Largest root distance (Go duration, > 0) at which the server counts as ready.", false, ""},
	{"READY_ALLOW_LOCAL", "false", "Count serving from the local clock (`local stratum`) as ready.", false, ""},
	{"NTS_SERVER_CERT", "", "PEM certificate (chain) for serving NTS; set together with NTS_SERVER_KEY.", true, ""},
	{"NTS_SERVER_KEY", "", "PEM private key for serving NTS; set together with NTS_SERVER_CERT.", true, ""},
	{"METRICS_GO_PROCESS", "false", "Also serve the Go runtime (`go_*`) and process (`process_*`) series on /metrics, as chrony_exporter does by default: about 80 series of the entrypoint's own runtime that chrony dashboards do not use, left out to keep each scrape small.", false, ""},
	{"NTS_PORT", "4460", "TCP port (1024..65535) of the NTS-KE server; only with NTS_SERVER_CERT and NTS_SERVER_KEY.", true, ""},
	{"NTS_WATCH_INTERVAL", "10s", "How often (Go duration, 1s..1h) the NTS certificate and key are checked for a renewal, which restarts chronyd with the new pair once it is valid; `off`: never (chronyd keeps the pair it started with).", false, ""},
	{"NTS_KEYS_FROM", "", "The `ntskeys` file of the server that generates the NTS cookie keys (its STATE_DIR, on a shared volume): this server then rotates none of its own (`ntsrotate 0`), copies the file into STATE_DIR and reloads it (`rekey`) whenever it changes, so cookies from any replica work on every replica. Only with NTS_SERVER_CERT.", true, ""},
	{"REFCLOCK", "auto", "Reference clock: `auto` uses a cloud's PTP hardware clock (AWS ENA, Azure Hyper-V, KVM) found in PTP_SYSFS_DIR when its device is in the container, with the vendor's options (README: Cloud nodes); `none`; or `[PHC|SOCK|SHM] PARAM [OPTION ...]`, a bare absolute path being a PHC device (options: " + chronysyntax.RefclockOptionList + ").", true, ""},
	{"TIME_SOURCE", "", "A cloud's own time service instead of the default pool: `aws` (169.254.169.123, smeared), `gcp` (metadata.google.internal only, smeared) or `azure` (the host's /dev/ptp_hyperv clock, which must then be found).", true, ""},
	{"ALLOW_LEAP_SMEAR_MIX", "false", "`true` accepts sources that handle leap seconds differently (Google's or AWS's smeared NTP with the pool, NIST or AWS's PTP clock), which start-up refuses otherwise.", false, ""},
	{"PTP_SYSFS_DIR", "/sys/class/ptp", "Where REFCLOCK=auto looks for PTP clocks (each `ptpN/clock_name` and `ptpN/dev`).", false, ""},
	{"PTP_DEV_DIR", "/dev", "Where REFCLOCK=auto looks for a found clock's device node (`ptp_ena`, `ptp_hyperv`, `ptp_kvm`, `ptpN`).", false, ""},
}

// aliases are names people use for our variables (other images' names, singular forms). The
// value is what the error suggests.
var aliases = map[string]string{
	"NTP_SERVER":      "did you mean NTP_SERVERS?",
	"NTP_POOL":        "did you mean NTP_POOLS?",
	"NTP_SERVER_LIST": "did you mean NTP_SERVERS?",
	"ALLOW_CIDR":      "did you mean ALLOW?",
	"ALLOWED":         "did you mean ALLOW?",
	"ALLOW_LIST":      "did you mean ALLOW?",
	"LISTENIFACE":     "put a bindaddress or binddevice directive in a *.conf file in CHRONY_CONF_DIR",
	// simonrupf/docker-chronyd's -gps image runs gpsd beside chronyd; this image has no gpsd.
	"GPS_DEVICE":          gpsHint,
	"GPS_BAUD":            gpsHint,
	"GPS_REFCLOCK_OFFSET": gpsHint,
	"GPS_PPS":             gpsHint,
}

const gpsHint = "this image runs no gpsd: run gpsd beside it (in the same IPC namespace) and put `refclock SHM 0 refid GPS` in a *.conf file in CHRONY_CONF_DIR"

// isOurs says whether Load reads name.
func isOurs(name string) bool {
	for _, v := range Variables {
		if v.Name == name {
			return true
		}
	}
	return false
}

// variable is name's entry in Variables (the zero Variable for a name Load does not read).
func variable(name string) Variable {
	for _, v := range Variables {
		if v.Name == name {
			return v
		}
	}
	return Variable{}
}

func defaultOf(name string) string { return variable(name).Default }

// defaultText is what leaving name unset means, in words.
func defaultText(name string) string {
	switch v := variable(name); {
	case v.Default != "":
		return v.Default
	case v.Unset != "":
		return v.Unset
	}
	return "none"
}
