package signature

import (
	"context"
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
// Redis forgets each nonce once its signature is too old to be accepted.
type RedisNonces struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewRedisNonces returns nonces kept in rdb under prefix (the gateway's
// redis-key-prefix).
func NewRedisNonces(rdb goredis.UniversalClient, prefix string) *RedisNonces {
	return &RedisNonces{rdb: rdb, prefix: prefix + "nonce:"}
}

// Claim implements Nonces.
func (n *RedisNonces) Claim(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	return n.rdb.SetNX(ctx, n.prefix+keyID+":"+nonce, 1, ttl).Result()
}
