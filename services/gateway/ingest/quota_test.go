package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		q := NewRedisQuota(c, prefix)
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

// TestReserveRefusesOrWarnsPastTheQuotaAndReleasesWhatWasNotAccepted: a
// hard quota rejects the events past it in request order, a soft one warns
// them; units of events Kafka did not acknowledge are given back.
func TestReserveRefusesOrWarnsPastTheQuotaAndReleasesWhatWasNotAccepted(t *testing.T) {
	qs, rdb, prefix := quotaStores(t, 1)
	ctx := context.Background()
	s := NewService(Config{RedisTimeout: time.Second}, "topic", Deps{Quota: qs[0], Metrics: NewMetrics(prometheus.NewRegistry(), func() float64 { return 0 }),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	hard := tenancy.Tenant{ID: "acme", MonthlyQuota: 4, QuotaPolicy: tenancy.QuotaHard}
	results := make([]Result, 3)
	keep, q := s.reserve(ctx, hard, []int{0, 1, 2}, results, now, "r1")
	if !slices.Equal(keep, []int{0, 1, 2}) || q.Used != 3 || q.Exceeded || q.Reset != time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("first 3 of 4: keep %v, %+v", keep, q)
	}
	results[0].Status, results[1].Status = StatusAccepted, StatusAccepted // event 2: Kafka did not ack
	results[2].reject(CodeUnavailable, "")
	s.release(ctx, "acme", q, keep, results, false, "r1")
	if got, _ := rdb.Get(ctx, tenancy.QuotaKey(prefix, "acme", "2026-11")).Int(); got != 2 || q.Used != 2 {
		t.Fatalf("after releasing the unacknowledged event: counter %d, state %d; want 2", got, q.Used)
	}
	results = make([]Result, 3)
	keep, q = s.reserve(ctx, hard, []int{0, 1, 2}, results, now, "r2")
	if !slices.Equal(keep, []int{0, 1}) || results[2].Code != CodeQuotaExceeded || results[2].Status != StatusRejected || !q.Exceeded || q.Used != 4 {
		t.Fatalf("3 more of hard 4 after 2: keep %v, results %+v, %+v", keep, results, q)
	}
	soft := hard
	soft.QuotaPolicy = tenancy.QuotaSoft
	results = make([]Result, 2)
	keep, q = s.reserve(ctx, soft, []int{0, 1}, results, now, "r3")
	if !slices.Equal(keep, []int{0, 1}) || len(results[1].Warnings) != 1 || results[1].Warnings[0].Code != WarnQuotaExceeded || len(results[0].Warnings) != 1 || !q.Exceeded || q.Used != 6 || q.Hard {
		t.Fatalf("soft past the quota: keep %v, results %+v, %+v", keep, results, q)
	}
}
