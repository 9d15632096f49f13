package pulsectl

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks every command closes its database pool.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
