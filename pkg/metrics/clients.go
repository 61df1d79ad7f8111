package metrics

import (
	"errors"
	"math"

	fbchrony "github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/chris-short/chrony/pkg/chrony"
)

// chrony_exporter 0.14's clients collector (Options.Clients): the client log summed into a
// count per protocol and three histograms, with its names, help texts and buckets.
const clientsSubsystem = "clients"

// chronyd's markers in a client entry for "no value": an interval it has not measured, and a
// hit that never happened (chronyc prints "-" for both).
const (
	clientIntervalNone = 127
	clientHitNever     = math.MaxUint32
)

var (
	clientsConnected = gauge(clientsSubsystem, "connected",
		"The number of clients in chronyd's log. The protocol label is \"nts\" for clients that completed an NTS-KE handshake and \"ntp\" for the rest. Saturates at the client log size (clientloglimit).", "protocol")
	clientsLastNTPHitAgo = prometheus.NewDesc(prometheus.BuildFQName(namespace, clientsSubsystem, "last_ntp_hit_ago_seconds"),
		"Histogram of the time since the last NTP request from each client, in seconds. Clients that have not sent an NTP request are not included.", nil, nil)
	clientsNTPInterval = prometheus.NewDesc(prometheus.BuildFQName(namespace, clientsSubsystem, "ntp_interval_seconds"),
		"Histogram of the mean interval between NTP requests from each client, in seconds. Clients that chronyd has not measured an interval for, such as those seen only once, are not included.", nil, nil)
	clientsNTPDrops = prometheus.NewDesc(prometheus.BuildFQName(namespace, clientsSubsystem, "ntp_drops"),
		"Histogram of the number of NTP requests dropped (rate limited) per client.", nil, nil)

	clientsDescs = []*prometheus.Desc{clientsConnected.desc, clientsLastNTPHitAgo, clientsNTPInterval, clientsNTPDrops}

	clientsTimeBounds = []float64{1, 5, 30, 60, 300, 1800, 3600, 21600, 86400}
	clientsDropBounds = []float64{0, 1, 2, 5, 10, 50, 100}
)

// histogram is a constant histogram being filled.
type histogram struct {
	bounds  []float64
	buckets map[float64]uint64 // cumulative, every bound present even when zero
	count   uint64
	sum     float64
}

func newHistogram(bounds []float64) *histogram {
	h := &histogram{bounds: bounds, buckets: make(map[float64]uint64, len(bounds))}
	for _, b := range bounds {
		h.buckets[b] = 0
	}
	return h
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for _, b := range h.bounds {
		if v <= b {
			h.buckets[b]++
		}
	}
}

func (h *histogram) metric(d *prometheus.Desc) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, h.count, h.sum, h.buckets)
}

func collectClients(s *scrape) error {
	var ntp, nts float64
	lastHit, interval, drops := newHistogram(clientsTimeBounds), newHistogram(clientsTimeBounds), newHistogram(clientsDropBounds)
	err := chrony.Clients(s.ctx, s.c, func(c fbchrony.ClientAccess) {
		if c.NKEHits > 0 {
			nts++
		} else {
			ntp++
		}
		if c.NTPHits > 0 || c.NTPDrops > 0 {
			drops.observe(float64(c.NTPDrops))
		}
		if c.NTPHits == 0 {
			return
		}
		if c.LastNTPHitAgo != clientHitNever {
			lastHit.observe(float64(c.LastNTPHitAgo))
		}
		if c.NTPInterval < clientIntervalNone {
			interval.observe(math.Exp2(float64(c.NTPInterval)))
		}
	})
	if errors.Is(err, chrony.ErrClientLogOff) {
		// A mounted chrony.conf may say noclientlog: there is nothing to count, and chronyd
		// is fine, so no series and no failure.
		s.log.Debug("chrony scrape: no client log", zap.Error(err))
		return nil
	}
	if err != nil {
		return err
	}
	s.ch <- clientsConnected.metric(ntp, "ntp")
	s.ch <- clientsConnected.metric(nts, "nts")
	s.ch <- lastHit.metric(clientsLastNTPHitAgo)
	s.ch <- interval.metric(clientsNTPInterval)
	s.ch <- drops.metric(clientsNTPDrops)
	return nil
}
