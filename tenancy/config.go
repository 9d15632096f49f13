package tenancy

import (
	"flag"
	"fmt"
	"time"
)

// Config is the API key cache of a service that authenticates requests (the
// gateway and the query service both read it; deployments may give each its
// own value).
type Config struct {
	// CacheTTL bounds how long a revocation, suspension or limit change made
	// by another process may go unseen here.
	CacheTTL time.Duration
}

// RegisterFlags defines auth-cache-ttl (PULSESTREAM_AUTH_CACHE_TTL).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.CacheTTL, "auth-cache-ttl", 10*time.Second,
		"how long API key lookups are cached in process; a key revoked elsewhere is refused here within this time (0 disables the cache)")
}

// Validate names a bad setting.
func (c *Config) Validate() error {
	if c.CacheTTL < 0 || c.CacheTTL > 10*time.Minute {
		return fmt.Errorf("auth-cache-ttl: must be between 0 and 10m, got %s", c.CacheTTL)
	}
	return nil
}
