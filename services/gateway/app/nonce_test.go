package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
	"github.com/pulsestream/pulsestream/tenancy"
)

// memAuditLog keeps signature refusals in memory.
type memAuditLog struct {
	mu      sync.Mutex
	entries []tenancy.AuditEntry
}

func (m *memAuditLog) Write(_ context.Context, e tenancy.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

// pipelines records the commands of every pipeline go-redis sends (a
// command sent alone counts as a pipeline of one): their names,
// "set(nonce)" for a nonce's claim.
type pipelines struct {
	mu    sync.Mutex
	names []string
}

func (l *pipelines) record(cmds []goredis.Cmder) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name()
		if key, _ := c.Args()[1].(string); c.Name() == "set" && strings.Contains(key, ":nonce:") {
			names[i] = "set(nonce)"
		}
	}
	l.mu.Lock()
	l.names = append(l.names, strings.Join(names, " "))
	l.mu.Unlock()
}

func (l *pipelines) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (l *pipelines) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		l.record([]goredis.Cmder{cmd})
		return next(ctx, cmd)
	}
}
func (l *pipelines) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		l.record(cmds)
		return next(ctx, cmds)
	}
}

func (l *pipelines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.names
	l.names = nil
	return n
}

// TestIntegrationSignedNonceRidesTheRoundTripAndAReplayTakesNothing: on
// the ingest route a signed request's nonce is claimed in the same Redis
// pipeline as its rate limit and marker lookup (one round trip, no SET of
// its own); a replay is still 401 signature_replayed with nothing produced,
// and gives back what its admission took, so replaying a captured request
// cannot drain the tenant's limit; a replayed request that fails before the
// service (a bad body) is still answered as a replay.
func TestIntegrationSignedNonceRidesTheRoundTripAndAReplayTakesNothing(t *testing.T) {
	sealer, err := tenancy.NewSealer(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := tenancy.NewSigningSecret()
	const burst = 1000
	g, env := realGateway(t, 1, func(c *Config) {
		c.Auth.SigningSecretKey = testSigningKey
		decidedInRedis(c) // the test reads what the limiter took and gave back
	}, deps{audit: &memAuditLog{}})
	p := env.auth.keys[keyA]
	p.KeyID, p.KeyPrefix, p.RequireSignature = "k-signed", "ps_signed01", true
	p.Tenant.RateLimitBurst = burst // 1 event/s: what the test takes does not refill meanwhile
	if p.SealedSigningSecret, err = sealer.Seal(p.KeyID, secret); err != nil {
		t.Fatal(err)
	}
	env.auth.keys[keyA] = p
	log := &pipelines{}
	g.app.redis.AddHook(log)

	send := func(body []byte, nonce string) answer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keyA)
		if err := httpsig.Sign(req, body, []byte(secret), httpsig.SignParams{KeyID: p.KeyPrefix, Nonce: nonce}); err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	single := batch(event("n-single", "t", "1"))
	if a := send(single, "n1"); a.status != 200 || a.body.Accepted != 1 {
		t.Fatalf("signed single event: %d %s", a.status, a.raw)
	}
	// The nonce's claim went once, in the pipeline of the rate limit's
	// script and the marker lookup.
	claims := 0
	sent := log.take()
	for _, s := range sent {
		if strings.Contains(s, "set(nonce)") {
			claims++
			if s != "evalsha set(nonce) mget" && s != "eval set(nonce) mget" {
				t.Fatalf("pipelines %q: the nonce's claim without the rate limit and the lookup", sent)
			}
		}
	}
	if claims != 1 {
		t.Fatalf("pipelines %q: %d nonce claims, want 1", sent, claims)
	}

	var evs []string
	for i := range 100 {
		evs = append(evs, event(fmt.Sprint("n-batch-", i), "t", "1"))
	}
	body := batch(evs...)
	if a := send(body, "n2"); a.status != 200 || a.body.Accepted != 100 {
		t.Fatalf("signed batch: %d %s", a.status, a.raw)
	}
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keyA)
	if err := httpsig.Sign(req, body, []byte(secret), httpsig.SignParams{KeyID: p.KeyPrefix, Nonce: "n3"}); err != nil {
		t.Fatal(err)
	}
	captured := req.Header.Clone()
	if a := do(t, req); a.status != 200 {
		t.Fatalf("captured request, first time: %d %s", a.status, a.raw)
	}
	for i := range 3 {
		replay, _ := http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(body))
		replay.Header = captured.Clone()
		if a := do(t, replay); a.status != 401 || a.errorCode() != httpsig.CodeReplayed || a.header.Get("Accept-Signature") == "" {
			t.Fatalf("replay %d: %d %s", i, a.status, a.raw)
		}
	}
	a := send(batch(event("n-after", "t", "1")), "n4")
	if a.status != 200 {
		t.Fatalf("fresh request after the replays: %d %s", a.status, a.raw)
	}
	// Taken: 1 + 100 + 100 + 1 events; three replays of 100 would have taken
	// 300 more. A second of refill is allowed for a slow machine (1 event/s).
	left, _ := strconv.Atoi(a.header.Get("RateLimit-Remaining"))
	if want := burst - 202; left < want || left > want+5 {
		t.Fatalf("RateLimit-Remaining %d after the replays, want %d: a replay took from the limit", left, want)
	}

	bad := []byte(`{"not":"an event"`)
	req, _ = http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(bad))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+keyA)
	if err := httpsig.Sign(req, bad, []byte(secret), httpsig.SignParams{KeyID: p.KeyPrefix, Nonce: "n5"}); err != nil {
		t.Fatal(err)
	}
	captured = req.Header.Clone()
	if a := do(t, req); a.status != 400 {
		t.Fatalf("signed bad body: %d %s", a.status, a.raw)
	}
	replay, _ := http.NewRequest(http.MethodPost, g.url+"/v1/events", bytes.NewReader(bad))
	replay.Header = captured
	if a := do(t, replay); a.status != 401 || a.errorCode() != httpsig.CodeReplayed {
		t.Fatalf("replayed bad body: %d %s, want 401 %s", a.status, a.raw, httpsig.CodeReplayed)
	}
	if n := topicRecords(t, env.brokers, env.topic); n != 102 {
		t.Fatalf("topic holds %d records, want the 102 accepted events (the captured request repeated the batch: duplicates)", n)
	}
}
