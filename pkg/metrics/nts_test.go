package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNTSCollector: the restart counter is always there (0 without NTS); the certificate's
// expiry and rejected renewals only when a certificate is served; the key reload counters only
// on a replica that takes its keys from another server.
func TestNTSCollector(t *testing.T) {
	tests := []struct {
		name  string
		facts NTSFacts
		want  string
	}{
		{"no NTS server", NTSFacts{}, `
# HELP chrony_container_chronyd_restarts_total Restarts of chronyd by the entrypoint; reason says why.
# TYPE chrony_container_chronyd_restarts_total counter
chrony_container_chronyd_restarts_total{reason="nts_certificate_renewed"} 0
`},
		{"serving, renewed twice, keys shared", NTSFacts{
			CertNotAfter: time.Unix(1798761600, 0), Restarts: 2, RenewalsRejected: 1,
			KeyReloads: 3, KeyReloadErrors: 1, KeysShared: true,
		}, `
# HELP chrony_container_chronyd_restarts_total Restarts of chronyd by the entrypoint; reason says why.
# TYPE chrony_container_chronyd_restarts_total counter
chrony_container_chronyd_restarts_total{reason="nts_certificate_renewed"} 2
# HELP chrony_container_nts_certificate_expiry_seconds Expiry (notAfter) of the NTS server certificate chronyd serves, since the Unix epoch, in seconds.
# TYPE chrony_container_nts_certificate_expiry_seconds gauge
chrony_container_nts_certificate_expiry_seconds 1.7987616e+09
# HELP chrony_container_nts_certificate_renewals_rejected_total Changed NTS certificate/key pairs that were not a usable pair; chronyd kept serving the old one.
# TYPE chrony_container_nts_certificate_renewals_rejected_total counter
chrony_container_nts_certificate_renewals_rejected_total 1
# HELP chrony_container_nts_key_reload_errors_total Reloads of NTS cookie keys (rekey) that chronyd did not confirm.
# TYPE chrony_container_nts_key_reload_errors_total counter
chrony_container_nts_key_reload_errors_total 1
# HELP chrony_container_nts_key_reloads_total NTS cookie key files copied from NTS_KEYS_FROM and reloaded by chronyd (rekey).
# TYPE chrony_container_nts_key_reloads_total counter
chrony_container_nts_key_reloads_total 3
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewNTSCollector(func() NTSFacts { return tt.facts })
			if err := testutil.CollectAndCompare(c, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}
