package tenancy

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const testSigningKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestSealerOpensOnlyItsOwnKeysSecrets(t *testing.T) {
	s, err := NewSealer(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := NewSigningSecret()
	if err != nil || !strings.HasPrefix(secret, "pss_") || len(secret) != 4+secretChars {
		t.Fatalf("secret %q: %v", secret, err)
	}
	sealed, err := s.Seal("key-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret[4:])) {
		t.Fatal("the sealed form holds the secret in clear")
	}
	if got, err := s.Open("key-1", sealed); err != nil || string(got) != secret {
		t.Fatalf("open: %q %v", got, err)
	}
	other, _ := NewSealer(strings.Repeat("ab", 32))
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another key's row":      func() ([]byte, error) { return s.Open("key-2", sealed) },
		"another master key":     func() ([]byte, error) { return other.Open("key-1", sealed) },
		"changed ciphertext":     func() ([]byte, error) { return s.Open("key-1", tampered) },
		"truncated":              func() ([]byte, error) { return s.Open("key-1", sealed[:10]) },
		"unknown format version": func() ([]byte, error) { return s.Open("key-1", append([]byte{9}, sealed[1:]...)) },
	} {
		if _, err := open(); !errors.Is(err, ErrUnsealable) {
			t.Errorf("%s: %v, want ErrUnsealable", name, err)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("ab", 16)} {
		if _, err := NewSealer(bad); err == nil {
			t.Errorf("NewSealer(%q) accepted", bad)
		}
	}
}

// TestSigningSecretStoredSealedAndRequireSignature creates keys through the
// admin service against PostgreSQL: the secret is shown once, stored only
// sealed, reaches the Principal sealed, and require_signature (key or
// tenant) reaches the Principal too.
func TestSigningSecretStoredSealedAndRequireSignature(t *testing.T) {
	store, pool := pgStore(t)
	sealer, _ := NewSealer(testSigningKey)
	auth := NewCachedAuthenticator(store, time.Minute, prometheus.NewRegistry())
	admin := NewAdmin(store, auth).WithSealer(sealer)
	tenant := mustTenant(t, admin)
	ctx := context.Background()

	k := mustKey(t, admin, tenant, KeySpec{Name: "signed", RequireSignature: true})
	if k.SigningSecret == "" || !k.RequireSignature || !k.HasSigningSecret {
		t.Fatalf("created key: %+v", k.KeyInfo)
	}
	var stored []byte
	if err := pool.QueryRow(ctx, `SELECT signing_secret FROM api_keys WHERE id = $1`, k.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(k.SigningSecret)) || bytes.Contains(stored, []byte(k.SigningSecret[4:])) {
		t.Fatal("PostgreSQL holds the signing secret in clear")
	}
	p, err := auth.Authenticate(ctx, k.Key, netip.MustParseAddr("127.0.0.1"), ScopeIngest)
	if err != nil || !p.RequireSignature {
		t.Fatalf("principal: %+v %v", p, err)
	}
	if got, err := sealer.Open(p.KeyID, p.SealedSigningSecret); err != nil || string(got) != k.SigningSecret {
		t.Fatalf("principal's secret opens to %q, %v", got, err)
	}

	plain := mustKey(t, admin, tenant, KeySpec{Name: "plain"})
	p, _ = auth.Authenticate(ctx, plain.Key, netip.MustParseAddr("127.0.0.1"), ScopeIngest)
	if p.RequireSignature || plain.SigningSecret == "" || plain.SigningSecret == k.SigningSecret {
		t.Fatalf("plain key: require %v, secret %q", p.RequireSignature, plain.SigningSecret)
	}
	on := true
	if _, err := admin.UpdateTenant(ctx, testActor, tenant, TenantSettings{RequireSignature: &on}); err != nil {
		t.Fatal(err)
	}
	if p, _ = auth.Authenticate(ctx, plain.Key, netip.MustParseAddr("127.0.0.1"), ScopeIngest); !p.RequireSignature {
		t.Fatal("the tenant's require_signature did not reach its keys")
	}
	entries, err := admin.Audit(ctx, AuditFilter{TenantID: tenant, Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Details["require_signature"] != true {
		t.Fatalf("audit: %+v %v", entries, err)
	}

	unsealed := NewAdmin(store)
	if _, err := unsealed.CreateKey(ctx, testActor, tenant, KeySpec{Scopes: []Scope{ScopeIngest}, RequireSignature: true}); !isField(err, "require_signature") {
		t.Fatalf("require_signature without a signing-secret-key: %v", err)
	}
	if k, err := unsealed.CreateKey(ctx, testActor, tenant, KeySpec{Scopes: []Scope{ScopeIngest}}); err != nil || k.SigningSecret != "" || k.HasSigningSecret {
		t.Fatalf("key without a signing-secret-key: %+v %v", k, err)
	}
}

func isField(err error, field string) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && ve.Field == field
}
