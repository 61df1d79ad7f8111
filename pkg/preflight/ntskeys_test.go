package preflight_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chris-short/chrony/internal/testcert"
	"github.com/chris-short/chrony/pkg/preflight"
)

func TestCheckNTSKeyPair(t *testing.T) {
	good := testcert.Write(t, t.TempDir(), []string{"localhost"}, nil, -1, -1, 0o600)
	other := testcert.Write(t, t.TempDir(), []string{"localhost"}, nil, -1, -1, 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name, cert, key, want string
	}{
		{"matching pair", good.Cert, good.Key, ""},
		{"cert missing", missing, good.Key, "NTS_SERVER_CERT " + missing + ": read certificate: "},
		{"key missing", good.Cert, missing, "NTS_SERVER_KEY " + missing + ": read key: "},
		{"mismatched", good.Cert, other.Key, "NTS_SERVER_CERT " + good.Cert + " and NTS_SERVER_KEY " + other.Key + ": not a usable certificate and matching key: tls: private key does not match public key"},
		{"key as cert", good.Key, good.Key, "NTS_SERVER_CERT " + good.Key + " and NTS_SERVER_KEY " + good.Key + ": not a usable certificate and matching key: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := preflight.CheckNTSKeyPair(tt.cert, tt.key)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Fatalf("CheckNTSKeyPair = %q, want prefix %q", got, tt.want)
			}
		})
	}
}
