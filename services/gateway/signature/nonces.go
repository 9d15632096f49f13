package signature

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Nonces remembers the nonces of accepted signatures.
type Nonces interface {
	// Claim records nonce of key keyID for ttl and reports whether it was
	// new (false: a replay).
	Claim(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error)
}

// RedisNonces keeps nonces in Redis as <prefix>nonce:<key prefix>:<nonce>,
// set with NX and a TTL, so concurrent replays race on one atomic command and
// Redis forgets each nonce once its signature is too old to be accepted. On
// the ingest route the SET rides that request's own round trip (rate limit,
// marker lookup: ingest.Trip); elsewhere Claim sends it through the client's
// shared autopipeliner (go-redis AsyncAutoPipeline), so the nonces of
// concurrent requests share their round trips instead of paying one each.
type RedisNonces struct {
	ap      *goredis.AutoPipeliner
	prefix  string
	timeout time.Duration
}

// NewRedisNonces returns nonces kept in rdb under prefix (the gateway's
// redis-key-prefix); one claim waits at most timeout.
func NewRedisNonces(rdb goredis.UniversalClient, prefix string, timeout time.Duration) (*RedisNonces, error) {
	ap, err := rdb.AsyncAutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis autopipeline: %w", err)
	}
	return &RedisNonces{ap: ap, prefix: prefix + "nonce:", timeout: timeout}, nil
}

// redisNonces is what the gate needs to leave a claim to the ingest
// route's round trip (ingest.Nonce.RedisKey): RedisNonces.
type redisNonces interface {
	key(keyID, nonce string) string
	claimTimeout() time.Duration
}

func (n *RedisNonces) key(keyID, nonce string) string { return n.prefix + keyID + ":" + nonce }

func (n *RedisNonces) claimTimeout() time.Duration { return n.timeout }

// Claim implements Nonces.
func (n *RedisNonces) Claim(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	cmd := goredis.NewBoolCmd(ctx, "set", n.key(keyID, nonce), "1", "px", strconv.FormatInt(ttl.Milliseconds(), 10), "nx")
	if err := n.ap.Submit(ctx, cmd).WaitContext(ctx); err != nil {
		return false, err // after a timeout the batch may still write cmd: not read
	}
	return cmd.Val(), nil
}
