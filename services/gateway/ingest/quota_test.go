package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// quotaStores returns n RedisQuotas on separate clients (as n gateway
// replicas have) over one fresh prefix of the test Redis; the counter of
// tenant acme in 2026-11 is deleted at cleanup.
func quotaStores(t *testing.T, n int) ([]*RedisQuota, *goredis.Client, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "pstest:quota:" + hex.EncodeToString(b[:]) + ":"
	var qs []*RedisQuota
	var rdb *goredis.Client
	for range n {
		c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
		t.Cleanup(func() { _ = c.Close() })
		rdb = c
		q, err := NewRedisQuota(c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), tenancy.QuotaKey(prefix, "acme", "2026-11")) })
	return qs, rdb, prefix
}

// TestHardQuotaReservationsNeverExceedTheLimitAcrossReplicas: 40 concurrent
// reservations of 3 through two clients against a hard limit of 100 take
// exactly 100 between them; a soft limit takes everything; Release gives
// units back and the counter expires when told.
func TestHardQuotaReservationsNeverExceedTheLimitAcrossReplicas(t *testing.T) {
	qs, rdb, prefix := quotaStores(t, 2)
	ctx := context.Background()
	keep := time.Now().Add(time.Hour)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			taken, used, err := qs[i%2].Reserve(ctx, "acme", "2026-11", 3, 100, true, keep)
			if err != nil || used > 100 || taken < 0 || taken > 3 {
				t.Errorf("reserve: taken %d used %d err %v", taken, used, err)
			}
			mu.Lock()
			total += taken
			mu.Unlock()
		})
	}
	wg.Wait()
	key := tenancy.QuotaKey(prefix, "acme", "2026-11")
	if got, _ := rdb.Get(ctx, key).Int(); total != 100 || got != 100 {
		t.Fatalf("taken %d in all, counter %d; want 100 and 100", total, got)
	}
	if taken, used, err := qs[0].Reserve(ctx, "acme", "2026-11", 5, 100, false, keep); err != nil || taken != 5 || used != 105 {
		t.Fatalf("soft reserve past the limit: taken %d used %d err %v; want 5, 105", taken, used, err)
	}
	if err := qs[1].Release(ctx, "acme", "2026-11", 6); err != nil {
		t.Fatal(err)
	}
	if taken, used, err := qs[1].Reserve(ctx, "acme", "2026-11", 3, 100, true, keep); err != nil || taken != 1 || used != 100 {
		t.Fatalf("hard reserve after a release: taken %d used %d err %v; want 1, 100", taken, used, err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("counter TTL %s, want up to 1h", ttl)
	}
}
