package preflight

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"syscall"
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

// readRegular reads a regular file without blocking on a FIFO (O_NONBLOCK, then fstat).
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, maxPEM))
}
