package signature

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/tenancy"
)

const sealKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

type memNonces struct {
	mu   sync.Mutex
	seen map[string]time.Duration
	fail bool
}

func (m *memNonces) Claim(_ context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return false, errors.New("redis down")
	}
	if _, ok := m.seen[keyID+":"+nonce]; ok {
		return false, nil
	}
	m.seen[keyID+":"+nonce] = ttl
	return true, nil
}

type memAudit struct {
	mu      sync.Mutex
	entries []tenancy.AuditEntry
}

func (m *memAudit) Write(_ context.Context, e tenancy.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

type fixture struct {
	router *gin.Engine
	nonces *memNonces
	audit  *memAudit
	secret string
	seen   *[]byte // the body the next handler read
}

// newFixture serves POST /v1/events behind the gate for principal p (its
// sealed secret made here when withSecret).
func newFixture(t testing.TB, p tenancy.Principal, withSecret bool, sealer *tenancy.Sealer) fixture {
	return newFixtureMax(t, p, withSecret, sealer, 1<<10)
}

func newFixtureMax(t testing.TB, p tenancy.Principal, withSecret bool, sealer *tenancy.Sealer, maxBody int64) fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	f := fixture{nonces: &memNonces{seen: map[string]time.Duration{}}, audit: &memAudit{}, seen: new([]byte)}
	if withSecret {
		s, _ := tenancy.NewSealer(sealKey)
		f.secret, _ = tenancy.NewSigningSecret()
		p.SealedSigningSecret, _ = s.Seal(p.KeyID, f.secret)
	}
	g := New(Config{Window: 5 * time.Minute}, Deps{Sealer: sealer, Nonces: f.nonces, Audit: f.audit,
		Principal: func(*gin.Context) (tenancy.Principal, bool) { return p, true }, MaxBody: maxBody, RetryAfter: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	f.router = gin.New()
	f.router.POST("/v1/events", g.Handler(), func(c *gin.Context) {
		*f.seen, _ = io.ReadAll(c.Request.Body)
		c.Status(http.StatusOK)
	})
	return f
}

func (f fixture) do(r *http.Request) (int, string) {
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, r)
	var b apierror.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	return w.Code, b.Error.Code
}

// request builds a server-side request for body, signed with secret unless
// it is empty.
func request(t testing.TB, body, secret, nonce string) *http.Request {
	t.Helper()
	out, _ := http.NewRequest(http.MethodPost, "http://example.com/v1/events", strings.NewReader(body))
	out.Header.Set("Content-Type", "application/json")
	if secret != "" {
		if err := httpsig.Sign(out, []byte(body), []byte(secret), httpsig.SignParams{KeyID: "ps_abcdefgh", Nonce: nonce}); err != nil {
			t.Fatal(err)
		}
	}
	in := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
	in.Header = out.Header
	return in
}

func TestGate(t *testing.T) {
	sealer, _ := tenancy.NewSealer(sealKey)
	required := tenancy.Principal{KeyID: "k1", KeyPrefix: "ps_abcdefgh", RequireSignature: true}
	optional := tenancy.Principal{KeyID: "k1", KeyPrefix: "ps_abcdefgh"}
	body := `[{"id":"1"}]`

	t.Run("unsigned request of a key that need not sign passes untouched", func(t *testing.T) {
		f := newFixture(t, optional, true, sealer)
		if code, _ := f.do(request(t, body, "", "")); code != 200 || string(*f.seen) != body || len(f.audit.entries) != 0 {
			t.Fatalf("%d %q %v", code, *f.seen, f.audit.entries)
		}
	})
	t.Run("signed request goes on with its body intact", func(t *testing.T) {
		f := newFixture(t, required, true, sealer)
		if code, c := f.do(request(t, body, f.secret, "n1")); code != 200 || string(*f.seen) != body {
			t.Fatalf("%d %s %q", code, c, *f.seen)
		}
		if ttl := f.nonces.seen["ps_abcdefgh:n1"]; ttl < 5*time.Minute || ttl > 5*time.Minute+2*time.Second {
			t.Fatalf("nonce kept for %s, want the window", ttl)
		}
	})
	t.Run("a key that need not sign but sends a bad signature is refused", func(t *testing.T) {
		f := newFixture(t, optional, true, sealer)
		if code, c := f.do(request(t, body, "wrong", "")); code != 401 || c != httpsig.CodeInvalid || len(f.audit.entries) != 1 {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("key without a signing secret", func(t *testing.T) {
		f := newFixture(t, required, false, sealer)
		if code, c := f.do(request(t, body, "anything", "")); code != 401 || c != httpsig.CodeInvalid {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("gateway without the signing-secret-key", func(t *testing.T) {
		f := newFixture(t, required, true, nil)
		if code, c := f.do(request(t, body, f.secret, "")); code != 401 || c != httpsig.CodeInvalid {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("nonce store down: 503, never a pass", func(t *testing.T) {
		f := newFixture(t, required, true, sealer)
		f.nonces.fail = true
		if code, c := f.do(request(t, body, f.secret, "n2")); code != 503 || *f.seen != nil {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("body over the limit: 413", func(t *testing.T) {
		f := newFixture(t, required, true, sealer)
		big := `["` + strings.Repeat("x", 2<<10) + `"]`
		if code, c := f.do(request(t, big, f.secret, "")); code != 413 || c != "request_too_large" {
			t.Fatalf("%d %s", code, c)
		}
	})
	t.Run("chunked body (unknown length) is digested too", func(t *testing.T) {
		f := newFixture(t, required, true, sealer)
		r := request(t, body, f.secret, "")
		r.ContentLength = -1
		r.Body = io.NopCloser(bytes.NewReader([]byte(`[{"id":"2"}]`)))
		if code, c := f.do(r); code != 401 || c != httpsig.CodeDigest {
			t.Fatalf("%d %s", code, c)
		}
	})
}

// benchBody is a batch of n events of ~300 bytes of data, as make bench sends.
func benchBody(n int) string {
	ev := `{"specversion":"1.0","id":"e-%d","type":"bench","source":"/bench","data":{"pad":"` + strings.Repeat("x", 280) + `"}}`
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.Replace(ev, "%d", strings.Repeat("7", 1+i%5), 1)
	}
	if n == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// BenchmarkGate is the gate's cost per request: unsigned requests of a key
// that need not sign (the hot path must stay free), and signed single-event
// and 1,000-event requests (parse, HMAC, body read and SHA-256, nonce claim
// in memory). The batch cases hold b.N requests of 366 KB: run them with a
// count (-benchtime 100x).
func BenchmarkGate(b *testing.B) {
	sealer, _ := tenancy.NewSealer(sealKey)
	for _, bc := range []struct {
		name   string
		events int
		signed bool
		noGate bool
	}{{"no-gate-single", 1, false, true}, {"unsigned-single", 1, false, false}, {"signed-single", 1, true, false},
		{"no-gate-batch1000", 1000, false, true}, {"unsigned-batch1000", 1000, false, false}, {"signed-batch1000", 1000, true, false}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixtureMax(b, tenancy.Principal{KeyID: "k1", KeyPrefix: "ps_abcdefgh", RequireSignature: bc.signed}, true, sealer, 10<<20)
			if bc.noGate { // the same route without the gate: the baseline of the unsigned path
				f.router = gin.New()
				f.router.POST("/v1/events", func(c *gin.Context) { *f.seen, _ = io.ReadAll(c.Request.Body); c.Status(http.StatusOK) })
			}
			body := benchBody(bc.events)
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				secret := ""
				if bc.signed {
					secret = f.secret
				}
				reqs[i] = request(b, body, secret, fmt.Sprint("n", i))
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				w := httptest.NewRecorder()
				f.router.ServeHTTP(w, reqs[i])
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// TestGateRotatedSecret: the gate keeps each key's opened secret, but a
// rotated secret (a new sealed value for the same key) is opened afresh:
// the old secret's signatures are refused from then on.
func TestGateRotatedSecret(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	sealer, _ := tenancy.NewSealer(sealKey)
	p := tenancy.Principal{KeyID: "k1", KeyPrefix: "ps_abcdefgh", RequireSignature: true}
	old, _ := tenancy.NewSigningSecret()
	p.SealedSigningSecret, _ = sealer.Seal(p.KeyID, old)
	g := New(Config{Window: 5 * time.Minute}, Deps{Sealer: sealer, Nonces: &memNonces{seen: map[string]time.Duration{}}, Audit: &memAudit{},
		Principal: func(*gin.Context) (tenancy.Principal, bool) { return p, true }, MaxBody: 1 << 10, RetryAfter: time.Second,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	f := fixture{router: gin.New()}
	f.router.POST("/v1/events", g.Handler(), func(c *gin.Context) { c.Status(http.StatusOK) })
	n := 0
	send := func(secret string) (int, string) {
		n++
		return f.do(request(t, `{"a":1}`, secret, fmt.Sprint("n", n)))
	}
	for range 2 { // the second time from the kept key
		if code, c := send(old); code != http.StatusOK {
			t.Fatalf("signed with the current secret: %d %s", code, c)
		}
	}
	rotated, _ := tenancy.NewSigningSecret()
	p.SealedSigningSecret, _ = sealer.Seal(p.KeyID, rotated)
	if code, c := send(old); code != http.StatusUnauthorized || c != httpsig.CodeInvalid {
		t.Fatalf("signed with the rotated-out secret: %d %s, want 401 %s", code, c, httpsig.CodeInvalid)
	}
	if code, c := send(rotated); code != http.StatusOK {
		t.Fatalf("signed with the new secret: %d %s", code, c)
	}
}
