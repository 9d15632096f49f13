package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// The gateway's erasure marker (written once Kafka acknowledged a tombstone)
// is enough for the status to say deleted, before either read model applied
// the tombstone; it is not reported as an acceptance.
func TestStatusOfAnIDWithAnErasureMarkerIsDeleted(t *testing.T) {
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "qt-" + hex.EncodeToString(rnd[:]) + ":"
	tenant := querytest.Tenant(t)
	base := serve(t, api.Deps{
		Events: store.NewPostgres(pool), Stats: store.NewClickHouse(ch), Markers: store.NewMarkers(rdb, prefix),
		Auth: querytest.Auth{"k": tenant},
	})
	ctx := context.Background()
	erasedAt := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"marker-only", "stored-live"} {
		m := markers.Marker{ContentHash: markers.Erased, AcceptedAt: erasedAt, Partition: 1, Offset: 77, IngestID: "erasure-1"}
		if err := rdb.Set(ctx, markers.Key(prefix, tenant, id), m.Encode(), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Del(context.Background(), markers.Key(prefix, tenant, id)) })
	}
	querytest.InsertPG(t, pool, []querytest.Row{{Tenant: tenant, ID: "stored-live", Type: "t", Time: t0, Data: map[string]any{}, Partition: 1, Offset: 3}})
	for _, c := range []struct {
		id     string
		stored bool
	}{{"marker-only", false}, {"stored-live", true}} {
		var s api.Status
		if st, d, _ := call(t, base, "k", "/v1/events/"+c.id+"/status", nil, &s); st != 200 {
			t.Fatalf("%s: %d %+v", c.id, st, d)
		}
		if s.State != "deleted" || s.Accepted != nil || s.Deleted == nil || !s.Deleted.At.Equal(erasedAt) || (s.Stored != nil) != c.stored {
			t.Fatalf("%s: %+v", c.id, s)
		}
	}
}
