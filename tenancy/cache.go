package tenancy

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/singleflight"

	"github.com/pulsestream/pulsestream/platform/pgnotify"
)

// ChangeChannel is the PostgreSQL notification channel on which every
// committed change of a tenant or an API key is announced (a trigger of
// migration 00030; payload "<table>:<id>").
const ChangeChannel = "pulsestream_tenancy"

// KeyStore finds a key by its public prefix; ErrKeyNotFound when there is
// none. *PGStore implements it.
type KeyStore interface {
	LookupKey(ctx context.Context, prefix string) (KeyRecord, error)
}

// Cache sizes. Unknown prefixes get their own, smaller cache so a flood of
// garbage keys cannot evict the real ones.
const (
	cacheSize         = 100_000
	negativeCacheSize = 20_000
	lookupTimeout     = 5 * time.Second
)

// CachedAuthenticator is the Authenticator of the hot path. Key rows are
// cached in process by public prefix for ttl (hashicorp/golang-lru/v2: a
// bounded, thread-safe LRU; each entry carries its expiry, checked on read, so
// no cleanup goroutine runs — the library's expirable variant starts one that
// never stops, which goleak in the services' tests would report), unknown prefixes too
// (negative caching), and concurrent misses for one prefix share one query
// (x/sync/singleflight), so neither real traffic nor garbage keys hammer
// PostgreSQL. Purge drops everything at once in this process; ChangeListener makes
// changes made elsewhere purge it too (PostgreSQL LISTEN/NOTIFY), so ttl only
// bounds staleness while notifications are not arriving. A key's expiry is
// checked against the clock on every request, cached or not.
//
// The secret is checked on every request, hit or miss: SHA-256 of the
// presented key against the stored hash with crypto/subtle, so the cache is
// keyed by the public prefix and never holds a raw key.
type CachedAuthenticator struct {
	store KeyStore
	ttl   time.Duration
	pos   *lru.Cache[string, cached[KeyRecord]]
	neg   *lru.Cache[string, cached[struct{}]]
	group singleflight.Group
	// gen changes on every invalidation; a lookup started before one does
	// not put its (possibly stale) answer in the cache.
	gen atomic.Uint64
	now func() time.Time

	decisions *prometheus.CounterVec
	lookups   *prometheus.CounterVec
}

// NewCachedAuthenticator returns an Authenticator over store caching lookups
// for ttl (0 disables caching). Metrics are registered on reg.
func NewCachedAuthenticator(store KeyStore, ttl time.Duration, reg prometheus.Registerer) *CachedAuthenticator {
	a := &CachedAuthenticator{
		store: store,
		ttl:   ttl,
		now:   time.Now,
		decisions: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_auth_decisions_total",
			Help: "API key authentication decisions by outcome (ok, or the error code; error when the store failed).",
		}, []string{"outcome"}),
		lookups: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_auth_cache_lookups_total",
			Help: "API key cache lookups by result: hit, negative_hit (known-unknown prefix) or miss (asked the store).",
		}, []string{"result"}),
	}
	if ttl > 0 {
		// lru.New fails only for a size < 1.
		a.pos, _ = lru.New[string, cached[KeyRecord]](cacheSize)
		a.neg, _ = lru.New[string, cached[struct{}]](negativeCacheSize)
	}
	return a
}

// cached is a cache entry and when it stops being usable.
type cached[T any] struct {
	v       T
	expires time.Time
}

// fresh returns the fresh entry for key, dropping a stale one.
func fresh[T any](c *lru.Cache[string, cached[T]], key string, now time.Time) (T, bool) {
	e, ok := c.Get(key)
	if !ok {
		var zero T
		return zero, false
	}
	if !now.Before(e.expires) {
		c.Remove(key)
		var zero T
		return zero, false
	}
	return e.v, true
}

// TTL is how long a cached answer is used.
func (a *CachedAuthenticator) TTL() time.Duration { return a.ttl }

// Purge forgets every cached answer (after a local admin change).
func (a *CachedAuthenticator) Purge() {
	a.gen.Add(1)
	if a.pos != nil {
		a.pos.Purge()
		a.neg.Purge()
	}
}

// ChangeListener is a listener (platform/pgnotify) on ChangeChannel that
// purges this cache on every change announced and on every resync (each
// (re)connect, and every poll, ttl or at least 1 s: changes made while the
// connection was down were not announced). With it running, a revocation,
// an expiry change or a suspension made by any process is refused here as
// soon as the notification arrives; the TTL bounds staleness only while it
// is disconnected. Admin changes are rare, so a change purges every entry
// rather than hunting the affected ones: the next request per key pays one
// lookup. Nil when caching is off (nothing to purge).
func (a *CachedAuthenticator) ChangeListener(pool *pgxpool.Pool, logger *slog.Logger) *pgnotify.Listener {
	if a.pos == nil {
		return nil
	}
	poll := max(a.ttl, time.Second)
	return pgnotify.New(pool, ChangeChannel, purger{a}, pgnotify.Config{PollInterval: poll, RetryInterval: time.Second}, logger)
}

// purger is the pgnotify.Handler of ChangeListener.
type purger struct{ a *CachedAuthenticator }

func (p purger) Notify(context.Context, string) { p.a.Purge() }
func (p purger) Resync(context.Context)         { p.a.Purge() }

// Authenticate implements Authenticator.
func (a *CachedAuthenticator) Authenticate(ctx context.Context, rawKey string, remote netip.Addr, need Scope) (Principal, error) {
	p, err := a.authenticate(ctx, rawKey, remote, need)
	outcome := "ok"
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			outcome = ae.Code
		} else {
			outcome = "error"
		}
	}
	a.decisions.WithLabelValues(outcome).Inc()
	return p, err
}

func (a *CachedAuthenticator) authenticate(ctx context.Context, rawKey string, remote netip.Addr, need Scope) (Principal, error) {
	if rawKey == "" {
		return Principal{}, errMissingKey
	}
	prefix, ok := ParseKey(rawKey)
	if !ok {
		return Principal{}, errInvalidKey
	}
	rec, found, err := a.lookup(ctx, prefix)
	if err != nil {
		return Principal{}, err
	}
	// Hash even when the prefix is unknown, so both paths cost the same.
	h := HashKey(rawKey)
	if subtle.ConstantTimeCompare(h[:], rec.Hash[:]) != 1 || !found {
		return Principal{}, errInvalidKey
	}
	switch rec.status(a.now()) {
	case KeyRevoked:
		return Principal{}, errRevoked
	case KeyExpired:
		return Principal{}, errExpired
	}
	if rec.Tenant.Status != StatusActive {
		return Principal{}, errSuspended
	}
	if !addressAllowed(rec.AllowedCIDRs, remote) {
		return Principal{}, errAddress
	}
	// Copies: a caller changing its Principal must not change the cache.
	p := Principal{Tenant: rec.Tenant, KeyID: rec.ID, KeyPrefix: rec.Prefix, Scopes: slices.Clone(rec.Scopes), AllowedCIDRs: slices.Clone(rec.AllowedCIDRs),
		RequireSignature: rec.RequireSignature || rec.Tenant.RequireSignature, SealedSigningSecret: rec.SealedSigningSecret}
	if !p.Has(need) {
		return Principal{}, errScope(need)
	}
	return p, nil
}

func addressAllowed(cidrs []netip.Prefix, remote netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	remote = remote.Unmap()
	for _, c := range cidrs {
		if c.Contains(remote) {
			return true
		}
	}
	return false
}

// lookup returns the key row for prefix from the cache or the store.
func (a *CachedAuthenticator) lookup(ctx context.Context, prefix string) (KeyRecord, bool, error) {
	if a.pos != nil {
		now := time.Now()
		if rec, ok := fresh(a.pos, prefix, now); ok {
			a.lookups.WithLabelValues("hit").Inc()
			return rec, true, nil
		}
		if _, ok := fresh(a.neg, prefix, now); ok {
			a.lookups.WithLabelValues("negative_hit").Inc()
			return KeyRecord{}, false, nil
		}
	}
	a.lookups.WithLabelValues("miss").Inc()
	gen := a.gen.Load()
	started := time.Now()
	ch := a.group.DoChan(prefix, func() (any, error) {
		// Shared by every waiter: one caller going away must not fail the
		// others, so the query gets its own deadline.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		rec, err := a.store.LookupKey(qctx, prefix)
		found := err == nil
		if errors.Is(err, ErrKeyNotFound) {
			err = nil
		}
		if err != nil {
			return nil, err
		}
		if a.pos != nil && a.gen.Load() == gen {
			// The entry's life starts before the query, so an answer is
			// never used longer than ttl after it was asked for.
			expires := started.Add(a.ttl)
			if found {
				a.pos.Add(prefix, cached[KeyRecord]{rec, expires})
			} else {
				a.neg.Add(prefix, cached[struct{}]{struct{}{}, expires})
			}
		}
		return lookupResult{rec, found}, nil
	})
	select {
	case <-ctx.Done():
		return KeyRecord{}, false, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return KeyRecord{}, false, r.Err
		}
		res := r.Val.(lookupResult)
		return res.rec, res.found, nil
	}
}

type lookupResult struct {
	rec   KeyRecord
	found bool
}
