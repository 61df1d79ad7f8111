package switching

import (
	"flag"
	"testing"

	"github.com/chris-short/chrony/internal/entrypointtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// bin is the entrypoint, built once like the image builds it.
var bin string

func TestMain(m *testing.M) { entrypointtest.Main(m, &bin) }
