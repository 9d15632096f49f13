package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The projector starts consumers, lag reporters and servers: every one of
// them must be gone once its test stopped it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
