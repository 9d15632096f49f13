package tenancy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: services
// embedding the authenticator run goleak too.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
