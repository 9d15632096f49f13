package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
)

// e2eSigningKey is the signing-secret-key of the stack the signed-client
// test runs on (64 hex digits; a test value).
const e2eSigningKey = "0d1c2b3a4958677685a4b3c2d1e0f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b"

// signedWire sits under the client: it keeps the nonce of every request's
// signature and, once, forwards a request to the gateway but hands the
// client a 503 instead of the gateway's answer, so the client sends again
// what the gateway has already seen signed: a retry reusing the signature
// would be refused as signature_replayed.
type signedWire struct {
	t        *testing.T
	next     http.RoundTripper
	mu       sync.Mutex
	nonces   map[string]int
	unsigned int
	statuses map[int]int
	dropped  bool
}

func (w *signedWire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.note(req)
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses[resp.StatusCode]++
	if w.dropped || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	w.dropped = true
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"error":{"code":"unavailable","message":"the test dropped the gateway's answer"}}`)),
		Request: req}, nil
}

func (w *signedWire) note(req *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	in, err := httpsfv.UnmarshalDictionary(req.Header.Values("Signature-Input"))
	if err != nil || len(in.Names()) == 0 {
		w.unsigned++
		return
	}
	for _, label := range in.Names() {
		m, _ := in.Get(label)
		if l, ok := m.(httpsfv.InnerList); ok {
			n, _ := l.Params.Get("nonce")
			s, _ := n.(string)
			w.nonces[s]++
		}
	}
}

// A key that must sign: the client given its signing secret has every event
// accepted (gzip and plain bodies), including a batch whose answer was lost
// and that was sent again with a new signature; both read models hold every
// event once. Without the secret, every event fails once with
// signature_missing, each request tried once.
func clientSignsForAKeyThatMustSign(t *testing.T, s *stack) {
	rate := 100000
	tn := tenancytest.New(t, s.pool, "sg-"+randomHex(t, 4), tenancy.TenantSettings{RateLimitPerSec: &rate, RateLimitBurst: &rate})
	sealer, err := tenancy.NewSealer(e2eSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tn.Admin.WithSealer(sealer)
	k := tn.KeyOf(tenancy.KeySpec{Name: "signed", Scopes: []tenancy.Scope{tenancy.ScopeIngest}, RequireSignature: true})
	if k.SigningSecret == "" {
		t.Fatal("the key has no signing secret")
	}

	want := map[string]bool{}
	for _, gz := range []bool{true, false} {
		w := &signedWire{t: t, next: http.DefaultTransport, nonces: map[string]int{}, statuses: map[int]int{}}
		o := newOutcomes(t)
		c := s.newClient(t, k.Key, nil, o, func(c *pulsestream.Config) {
			c.HTTPClient, c.SigningSecret, c.DisableGzip, c.BatchMaxEvents = &http.Client{Transport: w}, k.SigningSecret, !gz, 250
			c.Linger = time.Minute // batches leave full (or at Close): the dropped answer is of 250 events
		})
		ids := sendAll(t, c, fmt.Sprintf("sig-%v", gz), 1500)
		stored, counts := o.stored()
		t.Logf("gzip %v: outcomes %v; gateway answers %v; %d signed requests", gz, counts, w.statuses, len(w.nonces))
		if len(stored) != len(ids) || counts[pulsestream.Accepted]+counts[pulsestream.Duplicate] != len(ids) {
			t.Fatalf("gzip %v: outcomes %v for %d events, want all accepted", gz, counts, len(ids))
		}
		if counts[pulsestream.Duplicate] != 250 || w.statuses[http.StatusUnauthorized] != 0 {
			t.Fatalf("gzip %v: %d duplicates (want the 250 of the batch whose answer was dropped, re-signed and sent again), %d 401s",
				gz, counts[pulsestream.Duplicate], w.statuses[http.StatusUnauthorized])
		}
		requests := 0
		for nonce, n := range w.nonces {
			requests += n
			if nonce == "" || n != 1 {
				t.Fatalf("gzip %v: nonce %q sent %d times", gz, nonce, n)
			}
		}
		if w.unsigned != 0 || requests != w.statuses[http.StatusOK] || requests < len(ids)/250+1 {
			t.Fatalf("gzip %v: %d unsigned, %d signed requests, answers %v", gz, w.unsigned, requests, w.statuses)
		}
		for id := range stored {
			want[id] = true
		}
	}

	w, o := newWireLog(t), newOutcomes(t)
	c := s.newClient(t, k.Key, w, o, func(c *pulsestream.Config) { c.BatchMaxEvents = 250 })
	ids := sendAll(t, c, "unsigned", 1000)
	for _, id := range ids {
		out := o.byID[id]
		var ae *pulsestream.APIError
		if out.Status != pulsestream.Failed || !errors.As(out.Err, &ae) || ae.StatusCode != http.StatusUnauthorized || ae.Code != "signature_missing" || out.Attempts != 1 {
			t.Fatalf("unsigned %s: %+v, want failed once with 401 signature_missing", id, out)
		}
	}
	if len(o.byID) != len(ids) || w.statuses[http.StatusUnauthorized] != len(ids)/250 || len(w.statuses) != 1 {
		t.Fatalf("unsigned: %d outcomes for %d events; answers %v, want %d 401s only", len(o.byID), len(ids), w.statuses, len(ids)/250)
	}
	s.expectReadModels(tn.ID, want)
}

// sendAll enqueues n events with ids prefix-NNNNN and closes the client.
func sendAll(t *testing.T, c *pulsestream.Client, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		if err := c.Enqueue(context.Background(), pulsestream.Event{ID: ids[i], Type: "signed.client", Source: "e2e", Data: i}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return ids
}
