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
	// SigningSecretKey (64 hex digits) seals and opens the keys' request
	// signing secrets (signing.go); empty: new keys get no signing secret
	// and signed requests cannot be verified.
	SigningSecretKey string
}

// RegisterFlags defines auth-cache-ttl (PULSESTREAM_AUTH_CACHE_TTL) and
// signing-secret-key (PULSESTREAM_SIGNING_SECRET_KEY).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.CacheTTL, "auth-cache-ttl", 10*time.Second,
		"how long API key lookups are cached in process; tenancy changes purge the cache at once (PostgreSQL NOTIFY), so this bounds how long a key revoked elsewhere is still let in only while the notification connection is down (0 disables the cache)")
	RegisterSigningKeyFlag(fs, &c.SigningSecretKey)
}

// RegisterSigningKeyFlag defines signing-secret-key on fs (services and
// pulsectl share it).
func RegisterSigningKeyFlag(fs *flag.FlagSet, dst *string) {
	fs.StringVar(dst, "signing-secret-key", "",
		"64 hex digits sealing the API keys' request signing secrets at rest (AES-256-GCM); the same value everywhere keys are created or signed requests verified; empty: keys get no signing secret")
}

// Sealer returns the signing secrets' Sealer, nil when no key is set.
func (c *Config) Sealer() (*Sealer, error) {
	if c.SigningSecretKey == "" {
		return nil, nil
	}
	return NewSealer(c.SigningSecretKey)
}

// Validate names a bad setting.
func (c *Config) Validate() error {
	if c.CacheTTL < 0 || c.CacheTTL > 10*time.Minute {
		return fmt.Errorf("auth-cache-ttl: must be between 0 and 10m, got %s", c.CacheTTL)
	}
	_, err := c.Sealer()
	return err
}
