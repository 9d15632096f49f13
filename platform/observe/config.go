package observe

import (
	"flag"
	"fmt"
	"time"
)

// HealthConfig is the readiness setting every service shares.
type HealthConfig struct {
	// Timeout bounds each dependency check of /readyz.
	Timeout time.Duration
}

// RegisterFlags defines health-timeout.
func (c *HealthConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Timeout, "health-timeout", 2*time.Second, "time each readiness check gets")
}

// Validate names a bad setting.
func (c *HealthConfig) Validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("health-timeout: must be positive, got %s", c.Timeout)
	}
	return nil
}
