package configtest

import (
	"strings"

	"github.com/chris-short/chrony/pkg/config"
)

// Case is one environment given to config.Load, in os.Environ form.
type Case struct {
	Name string
	Env  []string
}

// KubePod is what a container in a Kubernetes pod typically gets without asking: the runtime's
// basics plus service links for services in the namespace (here "kubernetes", "chrony" and
// "redis-master").
var KubePod = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOSTNAME=chrony-7d9c8b6f4-x2x8q",
	"HOME=/root",
	"TERM=xterm",
	"KUBERNETES_SERVICE_HOST=10.96.0.1",
	"KUBERNETES_SERVICE_PORT=443",
	"KUBERNETES_SERVICE_PORT_HTTPS=443",
	"KUBERNETES_PORT=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP_PROTO=tcp",
	"KUBERNETES_PORT_443_TCP_PORT=443",
	"KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
	"CHRONY_SERVICE_HOST=10.96.14.7",
	"CHRONY_SERVICE_PORT=123",
	"CHRONY_SERVICE_PORT_NTP=123",
	"CHRONY_PORT=udp://10.96.14.7:123",
	"CHRONY_PORT_123_UDP=udp://10.96.14.7:123",
	"CHRONY_PORT_123_UDP_PROTO=udp",
	"CHRONY_PORT_123_UDP_PORT=123",
	"CHRONY_PORT_123_UDP_ADDR=10.96.14.7",
	"REDIS_MASTER_SERVICE_HOST=10.96.3.3",
	"REDIS_MASTER_SERVICE_PORT=6379",
	"REDIS_MASTER_PORT=tcp://10.96.3.3:6379",
	"REDIS_MASTER_PORT_6379_TCP=tcp://10.96.3.3:6379",
	"REDIS_MASTER_PORT_6379_TCP_PROTO=tcp",
	"REDIS_MASTER_PORT_6379_TCP_PORT=6379",
	"REDIS_MASTER_PORT_6379_TCP_ADDR=10.96.3.3",
	"LANG=C.UTF-8",
	"TZ=Europe/Berlin",
	"SHLVL=1",
	"PWD=/",
	"container=oci",
}

func with(base []string, kv ...string) []string {
	return append(append([]string(nil), base...), kv...)
}

// Cases is the table: valid environments first, then each kind of mistake and attack.
var Cases = []Case{
	// Valid.
	{"defaults", nil},
	{"kube-pod-defaults", KubePod},
	{"kube-pod-servers", with(KubePod, "NTP_SERVERS=time.cloudflare.com nts iburst,time.google.com")},
	{"servers-only", []string{"NTP_SERVERS=time1.google.com,time2.google.com iburst"}},
	{"servers-and-pools", []string{"NTP_SERVERS=ntp.example.org iburst prefer", "NTP_POOLS=0.pool.ntp.org iburst,1.pool.ntp.org"}},
	{"pools-only", []string{"NTP_POOLS=2.debian.pool.ntp.org iburst"}},
	{"every-option", []string{"NTP_SERVERS=ntp.example.org iburst burst prefer noselect trust require nts xleave auto_offline offline copy port 123 ntsport 4460 minpoll -7 maxpoll 24 presend 9 polltarget 60 minsamples 4 maxsamples 64 filter 3 key 4294967295 version 4 certset 1 maxdelay 0.3 maxdelayratio 2 maxdelaydevratio 10.0 mindelay .001 asymmetry -0.5 offset -0.00005 extfield f323"}},
	{"ip-literals", []string{"NTP_SERVERS=192.0.2.1 iburst,2001:db8::123,FQDN.example.net."}},
	{"spaces-around-items", []string{"NTP_SERVERS= a.example.org iburst ,  b.example.org "}},
	{"nts-client", []string{"ENABLE_NTS=YES", "NTP_SERVERS=time.cloudflare.com,nts.netnod.se iburst"}},
	{"nts-server", []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem"}},
	{"nts-server-port", []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "NTS_PORT=14460"}},
	{"nts-fleet-follower", []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "NTS_KEYS_FROM=/var/lib/chrony-keys/ntskeys", "NTS_WATCH_INTERVAL=1m"}},
	{"nts-watch-off", []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem", "NTS_SERVER_KEY=/etc/chrony/tls/key.pem", "NTS_WATCH_INTERVAL=off"}},
	{"client-only", []string{"ALLOW=none", "NTP_SERVERS=ntp.example.org"}},
	{"allow-list", []string{"ALLOW=10.0.0.0/8, 192.168.1.7,2001:DB8::/32,::1"}},
	{"local-off-noclientlog", []string{"LOCAL_STRATUM=off", "NOCLIENTLOG=1"}},
	{"everything-else", []string{"LOCAL_STRATUM=1", "CLOCK_CONTROL=On", "NTP_PORT=1123", "LOG_LEVEL=DEBUG", "LOG_FORMAT=console",
		"CHRONYD=/opt/chrony/sbin/chronyd", "CHRONY_CONF=/config/chrony.conf", "CHRONY_CONF_DIR=/config/conf.d", "STATE_DIR=/data",
		"RUN_DIR=/tmp/run", "CHRONY_USER=_chrony", "HTTP_ADDR=[::1]:8080", "READY_MAX_DISTANCE=250ms", "READY_ALLOW_LOCAL=yes"}},
	{"cturra-log-level", []string{"LOG_LEVEL=2", "HTTP_ADDR=off"}},
	{"http-hostname", []string{"HTTP_ADDR=localhost:9123"}},

	// Switching from another image: their variables and forms, accepted with their meaning.
	{"peer-cturra", []string{"NTP_SERVERS=time.cloudflare.com,time.google.com", "LOG_LEVEL=0", "TZ=America/Vancouver", "NOCLIENTLOG=true", "ENABLE_NTS=true"}},
	{"peer-dockur", []string{"NTP_SERVERS=pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync", "ENABLE_SYSCLK=false", "LOG_LEVEL=1", "TZ=UTC"}},
	{"peer-dockur-noclientlog", []string{"NTP_SERVERS=0.pool.ntp.org,1.pool.ntp.org", "NTP_DIRECTIVES=ratelimit,rtcsync,clientloglimit 100000000", "NOCLIENTLOG=true"}},
	{"peer-simonrupf", []string{"NTP_SERVERS=0.pool.ntp.org,1.pool.ntp.org,2.pool.ntp.org,3.pool.ntp.org", "ENABLE_SYSCLK=true", `NTP_DIRECTIVES=ratelimit\nrtcsync`, "ENABLE_NTS=false", "NOCLIENTLOG=false", "LOG_LEVEL=0"}},
	{"compose-quoted-values", []string{`NTP_SERVERS="time.cloudflare.com,time.google.com"`, "ALLOW='10.0.0.0/8'", `NTP_PORT="1123"`}},
	{"quoted-empty-is-unset", []string{`NTP_SERVERS=""`, "CLOCK_CONTROL=''", "READY_MAX_DISTANCE= "}},
	{"iburst-opt-out", []string{"NTP_IBURST=false", "NTP_SERVERS=a.example,b.example iburst", "NTP_POOLS=p.example"}},
	{"iburst-bare-pools", []string{"NTP_POOLS=0.pool.ntp.org,1.pool.ntp.org maxsources 2"}},
	{"directives-all", []string{"NTP_DIRECTIVES=ratelimit interval 3 burst 8 leak 2, clientloglimit 100000000,makestep 0.1 3,maxdistance 3,maxupdateskew 100,maxslewrate 83333.333,maxdrift 500000,minsources 2,LEAPSECMODE Slew,rtcsync"}},
	{"sysclk-agrees", []string{"ENABLE_SYSCLK=yes", "CLOCK_CONTROL=on"}},
	{"ip-family-4", []string{"IP_FAMILY=4", "NTP_SERVERS=192.0.2.1,a.example,::ffff:192.0.2.2"}},
	{"ip-family-6", []string{"IP_FAMILY=6", "NTP_SERVERS=2001:db8::1,a.example"}},
	{"ip-family-dual", []string{"IP_FAMILY=DUAL"}},
	{"ready-distance-micro", []string{"READY_MAX_DISTANCE=500\u00b5s"}},
	{"ready-distance-greek-mu", []string{"READY_MAX_DISTANCE=1ms500\u03bcs"}},
	// Reference clocks and the clouds' time services (README: Cloud nodes).
	{"refclock-phc-path", []string{"REFCLOCK=/dev/ptp_ena poll 0 delay 0.000010 prefer"}},
	{"refclock-phc-azure", []string{"REFCLOCK=PHC /dev/ptp_hyperv poll 3 dpoll -2 offset 0 stratum 2", "TIME_SOURCE=azure"}},
	{"refclock-sock", []string{"REFCLOCK=sock /run/chrony/gps.sock refid GPS poll 2 filter 4 precision 0.000001", "PTP_SYSFS_DIR=/tmp/sys/class/ptp", "PTP_DEV_DIR=/tmp/dev"}},
	{"refclock-shm", []string{"REFCLOCK=SHM 0 refid NMEA offset 0.5 delay 0.2 noselect"}},
	{"refclock-none", []string{"REFCLOCK=none"}},
	{"time-source-aws", []string{"TIME_SOURCE=aws"}},
	{"time-source-gcp", []string{"TIME_SOURCE=GCP", "REFCLOCK=none"}},
	{"time-source-gcp-google-servers", []string{"TIME_SOURCE=gcp", "NTP_SERVERS=time.google.com,time2.google.com"}},
	{"time-source-gcp-with-pool", []string{"TIME_SOURCE=gcp", "NTP_POOLS=pool.ntp.org iburst"}},
	{"time-source-aws-duplicate", []string{"TIME_SOURCE=aws", "NTP_SERVERS=169.254.169.123 iburst"}},
	{"smear-mix-google-and-pool", []string{"NTP_SERVERS=time.google.com", "NTP_POOLS=2.pool.ntp.org"}},
	{"smear-mix-aws-and-nist", []string{"NTP_SERVERS=169.254.169.123 iburst,time.nist.gov"}},
	{"smear-mix-allowed", []string{"NTP_SERVERS=time.google.com", "NTP_POOLS=2.pool.ntp.org", "ALLOW_LEAP_SMEAR_MIX=true"}},

	// Injection and hostile bytes.
	{"newline-injection", []string{"NTP_SERVERS=a.example\nallow all"}},
	{"semicolon", []string{"NTP_SERVERS=a;b"}},
	{"nul-byte", []string{"NTP_SERVERS=a.example\x00iburst"}},
	{"hash-comment", []string{"NTP_SERVERS=a.example # iburst"}},
	{"quotes", []string{"NTP_SERVERS=\"a.example\",b.example"}},
	{"quotes-unmatched", []string{"NTP_SERVERS=\"a.example'", "NTP_POOLS=\"p.example", "ALLOW=\"\"all\"\"", "LOG_LEVEL=\""}},
	{"backslash", []string{"ALLOW=10.0.0.0/8\\", "CHRONY_USER=chr\\ony"}},
	{"tab-and-cr", []string{"NTP_SERVERS=a.example\tiburst", "ALLOW=all\r"}},
	{"fullwidth-value", []string{"NTP_SERVERS=ｔｉｍｅ.example"}},
	{"cyrillic-lookalike", []string{"NTP_SERVERS=time.gооgle.com"}},
	{"huge-value", []string{"NTP_SERVERS=" + strings.Repeat("a", 1<<20)}},
	{"option-smuggling", []string{"NTP_SERVERS=a.example iburst,b.example maxpoll 99"}},
	{"option-missing-number", []string{"NTP_SERVERS=a.example port"}},
	{"unknown-option", []string{"NTP_SERVERS=a.example iburst allow", "NTP_POOLS=p.example maxclients 4"}},
	{"pool-maxsources", []string{"NTP_POOLS=pool.ntp.org iburst maxsources 4"}},
	{"server-maxsources", []string{"NTP_SERVERS=a.example maxsources 4"}},
	{"option-twice", []string{"NTP_SERVERS=a.example iburst iburst,b.example minpoll 4 minpoll 5"}},
	{"option-bad-numbers", []string{"NTP_SERVERS=a.example minpoll 0x5,b.example maxdelay 1e3,c.example port 70000,d.example key 0,e.example version 5,f.example asymmetry 0.6,g.example extfield F324,h.example port 99999999999999999999,i.example offset nan"}},
	{"minpoll-above-maxpoll", []string{"NTP_SERVERS=a.example minpoll 8 maxpoll 4"}},
	{"bad-hosts", []string{"NTP_SERVERS=-a.example,a_b.example,1.2.3,[::1],a..example,x.123,foo.-bar.example," + strings.Repeat("l", 64) + ".example"}},
	{"ipv6-zone", []string{"NTP_SERVERS=fe80::1%eth0 iburst", "ALLOW=fe80::/64%eth0"}},
	{"duplicate-hosts", []string{"NTP_SERVERS=a.example,A.EXAMPLE.,2001:db8::1", "NTP_POOLS=2001:db8:0::1 iburst"}},
	{"empty-items", []string{"NTP_SERVERS=a.example,,b.example,", "ALLOW=,"}},
	{"empty-values", []string{"NTP_SERVERS=", "NTP_POOLS=  ", "ALLOW=", "HTTP_ADDR="}},
	{"bad-allow", []string{"ALLOW=10.0.0.0/33,10.0.0.1/8,all,example.com,10.0.0.0/8,10.0.0.0/8"}},
	{"bad-numbers", []string{"LOCAL_STRATUM=-1", "NTP_PORT=70000", "READY_MAX_DISTANCE=-1s"}},
	{"overflow", []string{"LOCAL_STRATUM=99999999999999999999", "NTP_PORT=99999999999999999999", "READY_MAX_DISTANCE=99999999999999999999h"}},
	{"local-stratum-16", []string{"LOCAL_STRATUM=16", "CLOCK_CONTROL=maybe"}},
	{"bad-booleans", []string{"ENABLE_NTS=on", "NOCLIENTLOG=2", "READY_ALLOW_LOCAL=ja"}},
	{"metrics-go-process", []string{"METRICS_GO_PROCESS=true"}},
	{"bad-metrics-go-process", []string{"METRICS_GO_PROCESS=maybe"}},
	{"bad-logging", []string{"LOG_LEVEL=4", "LOG_FORMAT=text"}},
	{"bad-paths", []string{"CHRONYD=chronyd", "CHRONY_CONF=/etc/chrony/../chrony.conf", "CHRONY_CONF_DIR=/etc/chrony/conf.d/", "STATE_DIR=/var/lib/my chrony", "RUN_DIR=/run/*"}},
	{"run-dir-too-long", []string{"RUN_DIR=/" + strings.Repeat("r", 100)}},
	{"bad-user-and-http", []string{"CHRONY_USER=-root", "HTTP_ADDR=9123", "READY_MAX_DISTANCE=1"}},
	{"http-bad-host", []string{"HTTP_ADDR=bad_host:80"}},
	{"nts-cert-without-key", []string{"NTS_SERVER_CERT=/etc/chrony/tls/cert.pem"}},
	{"nts-server-client-only", []string{"NTS_SERVER_CERT=/c.pem", "NTS_SERVER_KEY=/k.pem", "ALLOW=none"}},
	{"nts-port-without-server", []string{"NTS_PORT=14460"}},
	{"nts-port-bad", []string{"NTS_SERVER_CERT=/c.pem", "NTS_SERVER_KEY=/k.pem", "NTS_PORT=443"}},
	{"nts-port-service-link", []string{"NTS_SERVER_CERT=/c.pem", "NTS_SERVER_KEY=/k.pem", "NTS_PORT=tcp://10.96.9.9:4460"}},
	{"nts-fleet-bad", []string{"NTS_SERVER_CERT=/c.pem", "NTS_SERVER_KEY=/k.pem", "NTS_WATCH_INTERVAL=500ms", "NTS_KEYS_FROM=keys/ntskeys"}},
	{"nts-fleet-without-server", []string{"NTS_WATCH_INTERVAL=5s", "NTS_KEYS_FROM=/var/lib/chrony-keys/ntskeys"}},
	{"port-with-client-only", []string{"NTP_PORT=123", "ALLOW=none"}},
	{"kube-ntp-service-link", with(KubePod, "NTP_PORT=udp://10.96.7.7:123", "NTP_SERVICE_HOST=10.96.7.7", "NTP_SERVICE_PORT=123", "NTP_PORT_123_UDP=udp://10.96.7.7:123")},

	{"sysclk-conflicts", []string{"ENABLE_SYSCLK=true", "CLOCK_CONTROL=off"}},
	{"sysclk-conflicts-auto", []string{"ENABLE_SYSCLK=0", "CLOCK_CONTROL=auto"}},
	{"sysclk-bad", []string{"ENABLE_SYSCLK=maybe", "NTP_IBURST=sometimes"}},
	{"refclock-injection", []string{"REFCLOCK=/dev/ptp0 poll 0 cmdallow all"}},
	{"refclock-bad", []string{"REFCLOCK=ptp0", "TIME_SOURCE=oracle", "ALLOW_LEAP_SMEAR_MIX=maybe", "PTP_SYSFS_DIR=sys/class/ptp"}},
	{"refclock-driver-options", []string{"REFCLOCK=/dev/ptp0:nocrossts poll 0"}},
	{"refclock-bad-values", []string{"REFCLOCK=SOCK /run/x.sock poll 99 refid TOOLONG"}},
	{"refclock-shm-bad", []string{"REFCLOCK=SHM /dev/shm"}},
	{"refclock-driver-only", []string{"REFCLOCK=PHC"}},
	{"refclock-relative-dots", []string{"REFCLOCK=/dev/../etc/shadow"}},
	{"time-source-azure-without-refclock", []string{"TIME_SOURCE=azure", "REFCLOCK=none"}},
	{"directives-injection", []string{"NTP_DIRECTIVES=rtcsync cmdallow all,bindcmdaddress /tmp/x,include /etc/shadow,ratelimit interval 1 cmdport 323,makestep 1,clientloglimit -1,leapsecmode smear,server a.example,local stratum 1,ratelimit burst 300,noclientlog"}},
	{"directives-twice", []string{"NTP_DIRECTIVES=rtcsync,ratelimit interval 1 interval 2,RTCSYNC,,makestep 1 3 4"}},
	{"directives-newline", []string{"NTP_DIRECTIVES=rtcsync\ncmdallow all"}},
	{"directives-backslash", []string{`NTP_DIRECTIVES=rtcsync\tcmdallow all`}},
	{"numeric-host-forms", []string{"NTP_SERVERS=0x7f000003,0x7f.0x0.0x0.0x3,0177.0.0.1,2130706435,127.1,0x1ffffffff", "HTTP_ADDR=0x7f000001:9123"}},
	{"repeated-variables", []string{"NTP_SERVERS=a.example", "PATH=/bin", "NTP_SERVERS=b.example", "PATH=/usr/bin", "NTP_SERVERS=c.example", "ALLOW=", "ALLOW=all"}},
	{"ip-family-bad", []string{"IP_FAMILY=ipv4"}},
	{"ip-family-conflicts", []string{"IP_FAMILY=4", "NTP_SERVERS=2001:db8::1", "NTP_POOLS=p.example,2001:db8::2"}},
	{"ip-family-6-conflicts", []string{"IP_FAMILY=6", "NTP_SERVERS=192.0.2.1 iburst"}},
	{"ready-distance-lookalike", []string{"READY_MAX_DISTANCE=\u00b55s"}},
	{"gps-variables", []string{"GPS_DEVICE=/dev/ttyUSB0", "GPS_BAUD=9600", "GPS_PPS=true", "GPS_REFCLOCK_OFFSET=0.0"}},

	// Near-miss names.
	{"near-miss-aliases", []string{"NTP_SERVER=a.example", "NTP_POOL=p.example", "ALLOW_CIDR=10.0.0.0/8", "ALLOWED=all", "NTP_SERVER_LIST=a", "LISTENIFACE=eth0"}},
	{"near-miss-typos", []string{"NTP_SEVRERS=a.example", "LOCAL_STRATA=3", "CLOCKCONTROL=off", "ntp_servers=a", "LOGLEVEL=info", "CHRONY_CONFDIR=/x"}},
	{"near-miss-short-name", []string{"ALOW=all", "AlLW=none"}},
	{"near-miss-lookalike-name", []string{"ＮＴＰ_SERVERS=a.example"}},
	{"not-near-misses", []string{"NTP=1", "HTTP_PROXY=http://proxy:3128", "NO_PROXY=localhost", "STATE=x", "GOMAXPROCS=2", "SERVERS=a", "NTPSERVERSLIST=x"}},
}

// NamesVariable says whether an error line of config.Load begins with one of the variables and
// its value, or is about a misspelt variable name: every error must say what to fix.
func NamesVariable(line string) bool {
	for _, v := range config.Variables {
		if strings.HasPrefix(line, v.Name+"=") {
			return true
		}
	}
	return strings.Contains(line, " is not a known variable; ")
}
