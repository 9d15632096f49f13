// Package signature is the gateway's request-signature gate (issue 26): for
// a key whose (or whose tenant's) require_signature is on — or any request
// that carries a signature — it checks the RFC 9421 hmac-sha256 signature and
// the RFC 9530 Content-Digest of the body as received, claims the nonce in
// Redis, and refuses with 401 and a distinct code (signature_missing,
// signature_invalid, signature_expired, digest_mismatch, signature_replayed)
// before the ingest handler runs, so nothing of a refused request reaches
// Kafka. Refusals are counted, logged and written to the audit log.
//
// The protocol itself (parsing, signature base, HMAC, digest) is
// clients/go/httpsig, shared with the signing side; this package is the policy
// and the plumbing: the key's sealed secret (tenancy.Sealer; opened once per
// secret and kept as an httpsig.Key, keys.go), the created
// window, nonces (go-redis/v9, one SET NX per signed request; on the ingest
// route it rides that request's rate-limit round trip, ingest.Nonce), the audit log
// (tenancy.WriteAudit, pgx). A request from a key that does not require
// signatures and carries no Signature field costs one bool test and one
// header lookup.
package signature

import (
	"flag"
	"fmt"
	"time"
)

// Config is the signature gate's settings.
type Config struct {
	// Window bounds |gateway clock - created| of an accepted signature; a
	// nonce is remembered while its signature could still be accepted.
	Window time.Duration
}

// RegisterFlags defines signature-window (PULSESTREAM_SIGNATURE_WINDOW).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Window, "signature-window", 5*time.Minute,
		"a signed request's created time may differ from the gateway's clock by at most this much (signature_expired beyond); nonces are remembered in Redis as long")
}

// Validate names a bad setting.
func (c *Config) Validate() error {
	if c.Window < 10*time.Second || c.Window > time.Hour {
		return fmt.Errorf("signature-window: must be between 10s and 1h, got %s", c.Window)
	}
	return nil
}
