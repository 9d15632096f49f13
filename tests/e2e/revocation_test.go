package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
)

// replicaProbe asks one replica whether key is let in; it returns the status.
type replicaProbe struct {
	name  string
	probe func(key string) int
}

// TestRevocationAndSuspensionReachEveryReplicaWithinOneSecond runs two
// gateway and two query binaries (auth caches at their defaults: 30 s and
// 10 s) and changes tenancy from outside them, as pulsectl does: a revoked
// key gets 401 and a suspended tenant's key 403 from all four within 1 s.
func TestRevocationAndSuspensionReachEveryReplicaWithinOneSecond(t *testing.T) {
	s := startStackWith(t, stackOptions{noProjector: true})
	gw2, _ := s.spawnGateway()
	q2, _ := s.spawnQuery(0)
	n := 0
	var replicas []replicaProbe
	for _, u := range []string{s.gatewayURL, gw2} {
		replicas = append(replicas, replicaProbe{"gateway " + u, func(key string) int {
			n++
			return s.call(key, http.MethodPost, u+"/v1/events", "application/json", fmt.Sprintf(`{"id":"rv-%d","type":"t"}`, n), nil)
		}})
	}
	for _, u := range []string{s.queryURL, q2} {
		replicas = append(replicas, replicaProbe{"query " + u, func(key string) int {
			return s.call(key, http.MethodGet, u+"/v1/events/none", "", "", nil)
		}})
	}
	for _, key := range []string{s.keyA, s.keyB} { // now cached everywhere
		for _, r := range replicas {
			if code := r.probe(key); code != http.StatusOK && code != http.StatusNotFound {
				t.Fatalf("%s before the changes: %d", r.name, code)
			}
		}
	}

	admin := tenancy.NewAdmin(tenancy.NewPGStore(s.pool)) // purges no replica's cache
	ctx := context.Background()
	keys, err := admin.ListKeys(ctx, s.tenantA)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys of %s: %v %v", s.tenantA, keys, err)
	}
	if _, err := admin.RevokeKey(ctx, "cli:e2e", s.tenantA, keys[0].Prefix); err != nil {
		t.Fatal(err)
	}
	refusedEverywhere(t, replicas, s.keyA, http.StatusUnauthorized)

	if _, err := admin.SuspendTenant(ctx, "cli:e2e", s.tenantB); err != nil {
		t.Fatal(err)
	}
	refusedEverywhere(t, replicas, s.keyB, http.StatusForbidden)
}

// refusedEverywhere fails unless every replica answers key with want to
// every request sent more than 1 s after now (the change just committed).
// A request is judged by when it was sent: one that waited for the CPU on
// a loaded machine was still asked within the second.
func refusedEverywhere(t *testing.T, replicas []replicaProbe, key string, want int) {
	t.Helper()
	changed := time.Now()
	for _, r := range replicas {
		for {
			sent := time.Now()
			code := r.probe(key)
			if code == want {
				break
			}
			if sent.Sub(changed) > time.Second {
				t.Fatalf("%s answers %d to a request sent %s after the change, want %d", r.name, code, sent.Sub(changed), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("all %d replicas answer %d %s after the change", len(replicas), want, time.Since(changed))
}
