package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The NTS server's state as the entrypoint sees it (under containerSubsystem): what chronyd
// does not report, namely the certificate it serves and the restarts that loaded a renewed one.
var (
	ntsCertExpiryDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, containerSubsystem, "nts_certificate_expiry_seconds"),
		"Expiry (notAfter) of the NTS server certificate chronyd serves, since the Unix epoch, in seconds.", nil, nil)
	chronydRestartsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, containerSubsystem, "chronyd_restarts_total"),
		"Restarts of chronyd by the entrypoint; reason says why.", []string{"reason"}, nil)
	ntsRenewalsRejectedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, containerSubsystem, "nts_certificate_renewals_rejected_total"),
		"Changed NTS certificate/key pairs that were not a usable pair; chronyd kept serving the old one.", nil, nil)
	ntsKeyReloadsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, containerSubsystem, "nts_key_reloads_total"),
		"NTS cookie key files copied from NTS_KEYS_FROM and reloaded by chronyd (rekey).", nil, nil)
	ntsKeyReloadErrorsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, containerSubsystem, "nts_key_reload_errors_total"),
		"Reloads of NTS cookie keys (rekey) that chronyd did not confirm.", nil, nil)
)

// NTSFacts is the NTS server's state at a scrape.
type NTSFacts struct {
	CertNotAfter     time.Time // zero: no certificate served, no expiry sample
	Restarts         int       // restarts for a renewed certificate
	RenewalsRejected int
	KeyReloads       int
	KeyReloadErrors  int
	KeysShared       bool // NTS_KEYS_FROM set: the key reload counters are exported
}

// NTSCollector exports NTSFacts, asked at each scrape.
type NTSCollector struct{ facts func() NTSFacts }

// NewNTSCollector returns a collector that calls facts (safe from any goroutine) at each scrape.
func NewNTSCollector(facts func() NTSFacts) *NTSCollector { return &NTSCollector{facts: facts} }

// Describe implements prometheus.Collector.
func (c *NTSCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ntsCertExpiryDesc, chronydRestartsDesc, ntsRenewalsRejectedDesc, ntsKeyReloadsDesc, ntsKeyReloadErrorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *NTSCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.facts()
	ch <- prometheus.MustNewConstMetric(chronydRestartsDesc, prometheus.CounterValue, float64(f.Restarts), "nts_certificate_renewed")
	if f.CertNotAfter.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(ntsCertExpiryDesc, prometheus.GaugeValue, float64(f.CertNotAfter.Unix()))
	ch <- prometheus.MustNewConstMetric(ntsRenewalsRejectedDesc, prometheus.CounterValue, float64(f.RenewalsRejected))
	if f.KeysShared {
		ch <- prometheus.MustNewConstMetric(ntsKeyReloadsDesc, prometheus.CounterValue, float64(f.KeyReloads))
		ch <- prometheus.MustNewConstMetric(ntsKeyReloadErrorsDesc, prometheus.CounterValue, float64(f.KeyReloadErrors))
	}
}
