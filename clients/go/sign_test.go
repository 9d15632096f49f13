package pulsestream

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
)

const (
	testKey    = "ps_testkey1_secretpart"
	testSecret = "pss_testsigningsecret"
)

// verifyingFront checks every request's signature the way the gateway does
// (httpsig.Parse, Check, CheckDigest over the body as received) and refuses
// a nonce seen before with 401 signature_replayed, then hands valid requests
// to the fake gateway.
type verifyingFront struct {
	mu      sync.Mutex
	nonces  map[string]bool
	refused []string // codes of refused requests
}

func (v *verifyingFront) wrap(f *fakeGateway) {
	inner := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if code := v.check(r, raw); code != "" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused"}}`, code)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.Header.Set("Authorization", "Bearer key") // what the fake expects
		inner.ServeHTTP(w, r)
	})
}

func (v *verifyingFront) check(r *http.Request, raw []byte) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	fail := func(err error) string {
		code := err.Error()
		if e, ok := err.(*httpsig.Error); ok {
			code = e.Code
		}
		v.refused = append(v.refused, code)
		return code
	}
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		return fail(fmt.Errorf("wrong Authorization %q", r.Header.Get("Authorization")))
	}
	sigs, err := httpsig.Parse(r.Header)
	if err != nil {
		return fail(err)
	}
	sig, err := httpsig.Check(httpsig.FromServer(r), sigs, httpsig.Policy{KeyID: "ps_testkey1", Secret: []byte(testSecret),
		Now: time.Now(), Window: 5 * time.Minute, HasBody: true})
	if err != nil {
		return fail(err)
	}
	if err := httpsig.CheckDigest(r.Header, raw); err != nil {
		return fail(err)
	}
	if sig.Nonce == "" || v.nonces[sig.Nonce] {
		return fail(&httpsig.Error{Code: httpsig.CodeReplayed})
	}
	v.nonces[sig.Nonce] = true
	return ""
}

// With a signing secret every request is signed (gzip or not: the digest is
// over the bytes as sent), and a retry after a 503 carries a new signature
// with a new nonce, which a verifier that refuses replays accepts.
func TestSignedRequestsAndRetriesSignedAfresh(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			f := newFake(t, func(n int, _ []string) reply {
				if n == 0 {
					return reply{status: http.StatusServiceUnavailable, errCode: "unavailable"}
				}
				return reply{status: http.StatusOK}
			})
			v := &verifyingFront{nonces: map[string]bool{}}
			v.wrap(f)
			col := newCollector(t)
			c := newTestClient(t, f, col, func(c *Config) {
				c.APIKey, c.SigningSecret, c.DisableGzip, c.MaxInFlight = testKey, testSecret, !gz, 1
			})
			ids := enqueueN(t, c, "s", 50)
			closeClient(t, c)
			if len(v.refused) != 0 {
				t.Fatalf("requests refused by the verifier: %v", v.refused)
			}
			if len(v.nonces) != len(f.requests()) || len(v.nonces) < 2 {
				t.Fatalf("%d distinct nonces for %d requests: every attempt needs its own", len(v.nonces), len(f.requests()))
			}
			for _, id := range ids {
				if o := col.outcomes()[id]; o.Status != Accepted {
					t.Fatalf("%s: %+v", id, o)
				}
			}
			if o := col.outcomes()[ids[0]]; o.Attempts != 2 {
				t.Fatalf("first event: %d attempts, want 2 (the 503, then the re-signed retry)", o.Attempts)
			}
		})
	}
}

// The verifying front refuses a replayed request, so the test above would
// fail for a client that reused a signature across attempts.
func TestVerifyingFrontRefusesAReplay(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://gw.test/v1/events", strings.NewReader("[]"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	s := newSigner(Config{APIKey: testKey, SigningSecret: testSecret})
	if err := s.sign(req, []byte("[]")); err != nil {
		t.Fatal(err)
	}
	in := httptestServerRequest(req)
	v := &verifyingFront{nonces: map[string]bool{}}
	if code := v.check(in, []byte("[]")); code != "" {
		t.Fatalf("first: %s", code)
	}
	if code := v.check(in, []byte("[]")); code != httpsig.CodeReplayed {
		t.Fatalf("replay: %q, want %s", code, httpsig.CodeReplayed)
	}
}

// httptestServerRequest turns a client request into what a server receives.
func httptestServerRequest(r *http.Request) *http.Request {
	in := r.Clone(r.Context())
	in.RequestURI, in.Host = r.URL.RequestURI(), r.URL.Host
	return in
}

func TestSigningSecretNeedsAKeyWithAPrefix(t *testing.T) {
	cfg := Config{Endpoint: "http://127.0.0.1:1", APIKey: "nounderscore", SigningSecret: "pss_x"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "SigningSecret") {
		t.Fatalf("Validate: %v", err)
	}
	if id, ok := keyID(testKey); !ok || id != "ps_testkey1" {
		t.Fatalf("keyID(%q) = %q, %v", testKey, id, ok)
	}
}
