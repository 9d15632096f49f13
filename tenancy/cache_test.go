package tenancy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeStore is an in-memory KeyStore counting its lookups.
type fakeStore struct {
	mu    sync.Mutex
	keys  map[string]KeyRecord
	calls atomic.Int64
	err   error
	delay time.Duration
}

func newFakeStore() *fakeStore { return &fakeStore{keys: map[string]KeyRecord{}} }

func (s *fakeStore) LookupKey(ctx context.Context, prefix string) (KeyRecord, error) {
	s.calls.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return KeyRecord{}, s.err
	}
	rec, ok := s.keys[prefix]
	if !ok {
		return KeyRecord{}, ErrKeyNotFound
	}
	return rec, nil
}

func (s *fakeStore) update(prefix string, fn func(*KeyRecord)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.keys[prefix]
	fn(&rec)
	s.keys[prefix] = rec
}

// add stores a fresh key for tenant with scopes and returns the raw key.
func (s *fakeStore) add(t testing.TB, tenant Tenant, scopes ...Scope) (string, string) {
	t.Helper()
	raw, prefix, err := NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[prefix] = KeyRecord{
		KeyInfo: KeyInfo{ID: "id-" + prefix, TenantID: tenant.ID, Prefix: prefix, Scopes: scopes},
		Hash:    HashKey(raw),
		Tenant:  tenant,
	}
	return raw, prefix
}

var (
	activeTenant    = Tenant{ID: "acme", Name: "Acme", Status: StatusActive}
	suspendedTenant = Tenant{ID: "gone", Name: "Gone", Status: StatusSuspended}
	local           = netip.MustParseAddr("127.0.0.1")
)

func TestCachedAuthenticatorDecisions(t *testing.T) {
	store := newFakeStore()
	good, goodPrefix := store.add(t, activeTenant, ScopeIngest, ScopeQuery)
	revoked, revokedPrefix := store.add(t, activeTenant, ScopeIngest)
	store.update(revokedPrefix, func(r *KeyRecord) { r.RevokedAt = ptr(time.Now().Add(-time.Minute)) })
	expired, expiredPrefix := store.add(t, activeTenant, ScopeIngest)
	store.update(expiredPrefix, func(r *KeyRecord) { r.ExpiresAt = ptr(time.Now().Add(-time.Second)) })
	future, futurePrefix := store.add(t, activeTenant, ScopeIngest)
	store.update(futurePrefix, func(r *KeyRecord) { r.ExpiresAt = ptr(time.Now().Add(time.Hour)) })
	suspended, _ := store.add(t, suspendedTenant, ScopeIngest)
	fenced, fencedPrefix := store.add(t, activeTenant, ScopeIngest)
	store.update(fencedPrefix, func(r *KeyRecord) {
		r.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	})
	unknown, _, _ := NewRawKey()
	wrongSecret := goodPrefix + "_" + unknown[12:]

	tests := []struct {
		name   string
		key    string
		remote string
		need   Scope
		status int
		code   string
	}{
		{"valid key with the scope", good, "127.0.0.1", ScopeIngest, 0, ""},
		{"valid key, second scope", good, "127.0.0.1", ScopeQuery, 0, ""},
		{"missing key", "", "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeMissingKey},
		{"malformed key", "hello", "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeInvalidKey},
		{"unknown key", unknown, "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeInvalidKey},
		{"known prefix, wrong secret", wrongSecret, "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeInvalidKey},
		{"revoked key", revoked, "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeKeyRevoked},
		{"expired key", expired, "127.0.0.1", ScopeIngest, http.StatusUnauthorized, CodeKeyExpired},
		{"key expiring later", future, "127.0.0.1", ScopeIngest, 0, ""},
		{"missing scope", good, "127.0.0.1", ScopeAdmin, http.StatusForbidden, CodeMissingScope},
		{"suspended tenant", suspended, "127.0.0.1", ScopeIngest, http.StatusForbidden, CodeTenantSuspended},
		{"allowlisted v4 address", fenced, "10.1.2.3", ScopeIngest, 0, ""},
		{"allowlisted v4-mapped address", fenced, "::ffff:10.1.2.3", ScopeIngest, 0, ""},
		{"allowlisted v6 address", fenced, "2001:db8::5", ScopeIngest, 0, ""},
		{"address outside the allowlist", fenced, "192.0.2.1", ScopeIngest, http.StatusForbidden, CodeAddressNotAllowed},
	}
	for _, ttl := range []time.Duration{0, time.Minute} {
		auth := NewCachedAuthenticator(store, ttl, prometheus.NewRegistry())
		for _, tt := range tests {
			t.Run(ttl.String()+"/"+tt.name, func(t *testing.T) {
				// Twice: the second answer may come from the cache and must agree.
				for range 2 {
					p, err := auth.Authenticate(context.Background(), tt.key, netip.MustParseAddr(tt.remote), tt.need)
					if tt.code == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if p.Tenant.ID != activeTenant.ID || !p.Has(tt.need) {
							t.Fatalf("principal = %+v", p)
						}
						continue
					}
					var ae *AuthError
					if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
						t.Fatalf("err = %v, want %d %s", err, tt.status, tt.code)
					}
				}
			})
		}
	}
}

func TestCacheServesRepeatedLookupsWithoutTheStore(t *testing.T) {
	store := newFakeStore()
	raw, _ := store.add(t, activeTenant, ScopeIngest)
	reg := prometheus.NewRegistry()
	auth := NewCachedAuthenticator(store, time.Minute, reg)
	for range 100 {
		if _, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store asked %d times, want 1", n)
	}
	if hits := testutil.ToFloat64(auth.lookups.WithLabelValues("hit")); hits != 99 {
		t.Fatalf("cache hits = %v, want 99", hits)
	}
	if ok := testutil.ToFloat64(auth.decisions.WithLabelValues("ok")); ok != 100 {
		t.Fatalf("ok decisions = %v, want 100", ok)
	}
}

func TestUnknownKeysAreCachedNegatively(t *testing.T) {
	store := newFakeStore()
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	garbage, _, _ := NewRawKey()
	for range 50 {
		_, err := auth.Authenticate(context.Background(), garbage, local, ScopeIngest)
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Code != CodeInvalidKey {
			t.Fatalf("err = %v", err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store asked %d times for one garbage key, want 1", n)
	}
	// Malformed keys never reach the store.
	for range 50 {
		_, _ = auth.Authenticate(context.Background(), "ps_garbage", local, ScopeIngest)
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store asked %d times, want 1", n)
	}
}

func TestConcurrentMissesShareOneStoreQuery(t *testing.T) {
	store := newFakeStore()
	store.delay = 50 * time.Millisecond
	raw, _ := store.add(t, activeTenant, ScopeIngest)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("store asked %d times by 20 concurrent requests, want 1", n)
	}
}

func TestRevocationIsSeenAfterTheCacheTTL(t *testing.T) {
	store := newFakeStore()
	raw, prefix := store.add(t, activeTenant, ScopeIngest)
	const ttl = 100 * time.Millisecond
	auth := NewCachedAuthenticator(store, ttl, prometheus.NewRegistry())
	if _, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest); err != nil {
		t.Fatal(err)
	}
	// The entry was cached during that call: it expires by now + ttl, so a
	// call that starts after that must look the key up again. Each call is
	// judged by when it started, not by when the loop got to look at the
	// clock (a stalled test goroutine is no stale cache).
	expired := time.Now().Add(ttl)
	store.update(prefix, func(r *KeyRecord) { r.RevokedAt = ptr(time.Now()) })
	for {
		started := time.Now()
		_, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest)
		var ae *AuthError
		if errors.As(err, &ae) && ae.Code == CodeKeyRevoked {
			return
		}
		if started.After(expired) {
			t.Fatalf("revoked key still accepted by a call started %s after the cache entry expired (ttl %s): %v", started.Sub(expired), ttl, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPurgeMakesChangesVisibleAtOnce(t *testing.T) {
	store := newFakeStore()
	raw, prefix := store.add(t, activeTenant, ScopeIngest)
	auth := NewCachedAuthenticator(store, time.Hour, prometheus.NewRegistry())
	if _, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest); err != nil {
		t.Fatal(err)
	}
	store.update(prefix, func(r *KeyRecord) { r.Tenant.Status = StatusSuspended })
	auth.Purge()
	_, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != CodeTenantSuspended {
		t.Fatalf("after Purge err = %v, want tenant_suspended", err)
	}
}

func TestStoreFailureIsNotAnAuthError(t *testing.T) {
	store := newFakeStore()
	raw, _ := store.add(t, activeTenant, ScopeIngest)
	store.err = errors.New("connection refused")
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	_, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest)
	var ae *AuthError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("err = %v, want a plain store error", err)
	}
	// Failures are not cached: once the store is back the key works.
	store.mu.Lock()
	store.err = nil
	store.mu.Unlock()
	if _, err := auth.Authenticate(context.Background(), raw, local, ScopeIngest); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
