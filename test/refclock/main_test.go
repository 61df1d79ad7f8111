package refclock

import (
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

// bin is the entrypoint, built once like the image builds it.
var bin string

func TestMain(m *testing.M) { entrypointtest.Main(m, &bin) }
