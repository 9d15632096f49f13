package tenancy

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/pgnotify"
)

// following is a replica's authenticator with an hour-long TTL whose cache
// its ChangeListener's handler purges; it returns once the listener is in
// place (its first resync).
func following(t *testing.T, store *PGStore, pool *pgxpool.Pool) *CachedAuthenticator {
	t.Helper()
	auth := NewCachedAuthenticator(store, time.Hour, prometheus.NewRegistry())
	if auth.ChangeListener(pool, slog.New(slog.DiscardHandler)) == nil {
		t.Fatal("no change listener for a caching authenticator")
	}
	h := signaling{purger{auth}, make(chan struct{}, 1)}
	l := pgnotify.New(pool, ChangeChannel, h, pgnotify.Config{PollInterval: time.Hour, RetryInterval: time.Second}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-h.resynced:
	case <-time.After(time.Minute):
		t.Fatal("listener not connected within a minute")
	}
	return auth
}

// signaling is ChangeListener's handler that also reports resyncs.
type signaling struct {
	purger
	resynced chan struct{}
}

func (s signaling) Resync(ctx context.Context) {
	s.purger.Resync(ctx)
	select {
	case s.resynced <- struct{}{}:
	default:
	}
}

// refusedWithin fails unless every replica answers key status and code
// to every request sent more than d after the change. A request is judged
// by when it was sent: one that waited for the CPU on a loaded machine was
// still asked within d.
func refusedWithin(t *testing.T, replicas []*CachedAuthenticator, key string, status int, code string, d time.Duration) {
	t.Helper()
	changed := time.Now()
	for i, auth := range replicas {
		r := protected(auth, ScopeIngest)
		for {
			sent := time.Now()
			got, c := get(t, r, key, "")
			if got == status && c == code {
				break
			}
			if sent.Sub(changed) > d {
				t.Fatalf("replica %d still answers %d %s to a request sent %s after the change, want %d %s", i, got, c, sent.Sub(changed), status, code)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestChangesReachEveryFollowingReplicaWithinOneSecond: two replicas whose
// caches would keep a key for an hour refuse it within 1 s of a revocation
// or a suspension made by a third party (an Admin purging no cache of
// theirs, as pulsectl or another replica's admin API does).
func TestChangesReachEveryFollowingReplicaWithinOneSecond(t *testing.T) {
	store, pool := pgStore(t)
	replicas := []*CachedAuthenticator{following(t, store, pool), following(t, store, pool)}
	admin := NewAdmin(store) // no purger: only the notification can reach the replicas
	tenant := mustTenant(t, admin)
	revoked, suspended := mustKey(t, admin, tenant, KeySpec{}), mustKey(t, admin, tenant, KeySpec{})
	for i, auth := range replicas {
		for _, k := range []string{revoked.Key, suspended.Key} {
			if code, c := get(t, protected(auth, ScopeIngest), k, ""); code != http.StatusOK {
				t.Fatalf("replica %d before the changes: %d %s", i, code, c)
			}
		}
	}

	if _, err := admin.RevokeKey(context.Background(), testActor, tenant, revoked.Prefix); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, replicas, revoked.Key, http.StatusUnauthorized, CodeKeyRevoked, time.Second)
	for i, auth := range replicas { // the other key is still cached and served
		if code, c := get(t, protected(auth, ScopeIngest), suspended.Key, ""); code != http.StatusOK {
			t.Fatalf("replica %d, other key after the revocation: %d %s", i, code, c)
		}
	}

	if _, err := admin.SuspendTenant(context.Background(), testActor, tenant); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, replicas, suspended.Key, http.StatusForbidden, CodeTenantSuspended, time.Second)
}
