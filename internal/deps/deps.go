// Package deps pins the module's chosen libraries while the packages that use them are written.
// Temporary: removed once every library is imported by real code.
package deps

import (
	_ "github.com/facebook/time/ntp/chrony"
	_ "github.com/facebook/time/ntp/protocol"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/urfave/cli/v2"
	_ "go.uber.org/zap"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/policy/v1"
	_ "k8s.io/pod-security-admission/policy"
	_ "kernel.org/pub/linux/libs/security/libcap/cap"
	_ "sigs.k8s.io/yaml"
)
