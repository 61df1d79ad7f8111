package ntswatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
)

// KeysFile is the name chronyd gives its NTS server keys in ntsdumpdir (nts_ke_server.c).
const KeysFile = "ntskeys"

// keysFormat is chronyd's ntskeys file: up to 4.3 "NKS0", the cookie algorithm and the age of
// the newest key, then one "ID KEY" line per key (4 keys), both in hex; from 4.4 "NKS1", the
// age, then "ID KEY ALGORITHM" lines. chronyd 4.4+ reads both; 4.3 only NKS0, so the servers
// sharing keys must run the same image.
var keysFormat = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(NKS0\n[0-9]+ -?[0-9.]+\n([0-9A-F]{8} [0-9A-F]+\n){1,16}|NKS1\n-?[0-9.]+\n([0-9A-F]{8} [0-9A-F]+ [0-9]+\n){1,16})$`)
})

// maxKeysFile bounds what is read of a keys file (four keys are about 300 bytes).
const maxKeysFile = 64 << 10

// CopyKeys copies the generating server's keys file from into stateDir/ntskeys, as chronyd
// writes it (a new file renamed into place, mode 0600), when its contents differ from what is
// there. changed says whether it copied. A file that is not chronyd's keys format is refused:
// chronyd would load part of it.
func CopyKeys(from, stateDir string) (changed bool, err error) {
	b, err := readRegular(from)
	if err != nil {
		return false, fmt.Errorf("NTS_KEYS_FROM %s: read keys: %w", from, err)
	}
	if len(b) > maxKeysFile || !keysFormat().Match(b) {
		return false, fmt.Errorf("NTS_KEYS_FROM %s: not a chronyd ntskeys file (written by a chronyd with ntsdumpdir and key rotation on)", from)
	}
	dst := filepath.Join(stateDir, KeysFile)
	if old, err := readRegular(dst); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
		return false, fmt.Errorf("write %s in STATE_DIR: it exists and is not a regular file (%s): remove it", dst, fi.Mode().Type())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("write %s in STATE_DIR: %w", dst, err)
	}
	f, err := os.CreateTemp(stateDir, "."+KeysFile+".*")
	if err != nil {
		return false, fmt.Errorf("write %s in STATE_DIR: %w", dst, err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, dst)
	}
	if werr != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("write %s in STATE_DIR: %w", dst, werr)
	}
	return true, nil
}

// KeyOptions configure SyncKeys.
type KeyOptions struct {
	From     string // NTS_KEYS_FROM
	StateDir string // chronyd's ntsdumpdir
	Interval time.Duration
	// Rekey asks chronyd to reload its keys (see Rekeyer).
	Rekey  func(ctx context.Context) error
	Status *Status
	Logger *zap.Logger
}

// KeySync copies and reloads the generating server's keys; see SyncKeys.
type KeySync struct{ done chan struct{} }

// SyncKeys polls o.From every o.Interval until ctx ends; each time its contents changed it
// copies them into o.StateDir and asks chronyd to reload them. An error (the file missing
// while the generating server is away, a reload chronyd did not answer) is logged once until
// it changes, and the copy and reload are tried again at the next poll.
func SyncKeys(ctx context.Context, o KeyOptions) *KeySync {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Status == nil {
		o.Status = &Status{}
	}
	k := &KeySync{done: make(chan struct{})}
	go func() {
		defer close(k.done)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		lastErr, reload := "", false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			changed, err := CopyKeys(o.From, o.StateDir)
			reload = reload || changed
			if err == nil && reload {
				rctx, cancel := context.WithTimeout(ctx, chrony.DefaultTimeout)
				err = o.Rekey(rctx)
				cancel()
				if err == nil {
					reload = false
					o.Status.update(func() { o.Status.keyReloads++ })
					o.Logger.Info("NTS cookie keys reloaded from the generating server", zap.String("NTS_KEYS_FROM", o.From))
				} else {
					o.Status.update(func() { o.Status.keyReloadErrors++ })
					err = fmt.Errorf("reload NTS keys (rekey): %w", err)
				}
			}
			switch {
			case err != nil && err.Error() != lastErr:
				o.Logger.Warn("cannot take the generating server's NTS cookie keys; clients whose cookies this server cannot decrypt redo their key exchange", zap.Error(err))
				lastErr = err.Error()
			case err == nil:
				lastErr = ""
			}
		}
	}()
	return k
}

// Wait returns once the sync stopped (after ctx ended).
func (k *KeySync) Wait() { <-k.done }

// reqRekey is chronyd's REQ_REKEY command (candm.h).
const reqRekey fbchrony.CommandType = 16

// rekeyRequest is REQ_REKEY: a header and no data (chronyd wants the request padded to its
// reply's size, as every request facebook/time sends is).
type rekeyRequest struct {
	fbchrony.RequestHead
	data [396]uint8
}

// Rekeyer returns a Rekey function that sends `rekey` to chronyd's command socket, binding its
// client socket under clientDir. chronyd then re-reads its keyfile and, with ntsrotate 0, the
// NTS server keys in ntsdumpdir (chronyc(1)).
func Rekeyer(socket, clientDir string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		c, err := chrony.Dial(ctx, socket, clientDir)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Communicate(ctx, &rekeyRequest{RequestHead: fbchrony.RequestHead{
			Version: 6, PKTType: 1, Command: reqRekey,
		}})
		// chronyd answers RPY_NULL with a success status, which facebook/time does not decode:
		// its "not implemented reply type 1" is the success. A failure status is reported
		// before that ("got status ...").
		if err != nil && strings.Contains(err.Error(), "not implemented reply type 1 ") {
			return nil
		}
		if err == nil {
			return errors.New("unexpected reply to rekey")
		}
		return err
	}
}
