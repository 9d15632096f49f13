package store

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/schemas/markers"
)

// RedisGetter is what the marker reader needs of a Redis client.
type RedisGetter interface {
	Get(ctx context.Context, key string) *goredis.StringCmd
}

// Markers reads the gateway's "accepted" markers.
type Markers struct {
	rdb    RedisGetter
	prefix string
}

// NewMarkers reads markers under key prefix (markers.DefaultPrefix unless configured).
func NewMarkers(rdb RedisGetter, prefix string) *Markers { return &Markers{rdb: rdb, prefix: prefix} }

// Accepted returns the marker of (tenant, externalID) or ErrNotFound (never
// accepted, or its TTL expired).
func (m *Markers) Accepted(ctx context.Context, tenant, externalID string) (markers.Marker, error) {
	v, err := m.rdb.Get(ctx, markers.Key(m.prefix, tenant, externalID)).Result()
	if errors.Is(err, goredis.Nil) {
		return markers.Marker{}, ErrNotFound
	}
	if err != nil {
		return markers.Marker{}, fmt.Errorf("read accepted marker: %w", err)
	}
	mk, err := markers.Decode(v)
	if err != nil {
		return markers.Marker{}, fmt.Errorf("read accepted marker: %w", err)
	}
	return mk, nil
}
