package preflight

import (
	"crypto/tls"
	"fmt"

	"github.com/chris-short/chrony/internal/regularfile"
)

// CheckNTSKeyPair loads the NTS server certificate and key the way chronyd will need them, so
// an unreadable file or a key that does not match the certificate is reported, naming the
// variable and the path, before chronyd starts. A path that is not a regular file (after
// symlinks, as Kubernetes mounts Secrets) is refused rather than read: a FIFO would block.
func CheckNTSKeyPair(certPath, keyPath string) error {
	cert, err := readRegular(certPath)
	if err != nil {
		return fmt.Errorf("NTS_SERVER_CERT %s: read certificate: %w", certPath, err)
	}
	key, err := readRegular(keyPath)
	if err != nil {
		return fmt.Errorf("NTS_SERVER_KEY %s: read key: %w", keyPath, err)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("NTS_SERVER_CERT %s and NTS_SERVER_KEY %s: not a usable certificate and matching key: %w", certPath, keyPath, err)
	}
	return nil
}

// maxPEM bounds what readRegular reads: a certificate chain is a few KiB.
const maxPEM = 1 << 20

// readRegular reads a certificate or key file (a Secret's files are symlinks: followed), never
// blocking on a FIFO.
func readRegular(path string) ([]byte, error) { return regularfile.Read(path, maxPEM, false) }
