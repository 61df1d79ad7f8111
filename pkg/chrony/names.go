package chrony

import (
	"encoding/binary"

	fbchrony "github.com/facebook/time/ntp/chrony"
)

// SourceName is how a source is shown without DNS: its address, or for a reference clock the
// refid chronyd encodes in the address field (as chronyc and chrony_exporter show it).
func SourceName(s *fbchrony.SourceData) string {
	if s.Mode == fbchrony.SourceModeRef {
		if ip := s.IPAddr.ToNetIP().To4(); ip != nil {
			return fbchrony.RefidToString(binary.BigEndian.Uint32(ip))
		}
	}
	return s.IPAddr.String()
}
