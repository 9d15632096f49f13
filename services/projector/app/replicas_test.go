package app_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestTwoGatewaysAndTwoProjectorsLoseAndDoubleNothingWhenOneOfEachIsKilled
// runs two gateway and two projector binaries against the same servers (each
// sink's consumer group with two members) under a steady load spread over
// both gateways, SIGKILLs one gateway, then one projector: every event
// answered 2xx is in PostgreSQL and in ClickHouse exactly once, and nothing
// is stored that was never acknowledged. (The per-tenant rate limit across
// two gateways is services/gateway/app's TestIntegrationTwoGatewaysShareOneTenantLimit.)
// Then two query services against the same stores answer the tenant's
// lookups, status, search pages and statistics identically.
func TestTwoGatewaysAndTwoProjectorsLoseAndDoubleNothingWhenOneOfEachIsKilled(t *testing.T) {
	h := newHarness(t, 6)
	key := h.ingestKey()
	gw1, addr1 := h.spawnGateway(h.brokers, "--kafka-partitions", "6")
	gw2, addr2 := h.spawnGateway(h.brokers, "--kafka-partitions", "6")
	h.holdMerges()
	bin := testenv.Build(t, "services/projector")
	proj1 := testenv.Spawn(t, bin, h.args("--projector-batch-size", "500", "--projector-linger", "50ms")...)
	proj2 := testenv.Spawn(t, bin, h.args("--projector-batch-size", "500", "--projector-linger", "50ms")...)
	for _, a := range []string{addr1, addr2} {
		waitFor(t, 90*time.Second, "gateway "+a+" ready", func() bool { code, _ := readyz(a); return code == 200 })
	}
	defer func() {
		if t.Failed() {
			t.Logf("gateway 2 log:\n%s\nprojector 2 log:\n%s", gw2.Log(30), proj2.Log(30))
		}
	}()

	lg := newLoadgen(key, addr1, addr2)
	giveUp := time.Now().Add(5 * time.Minute)
	stopLoad := lg.run(t, giveUp, 2, 10, 100*time.Millisecond)
	progress := func(what string) {
		t.Helper()
		before := lg.accepted.Load()
		waitFor(t, 2*time.Minute, what, func() bool { return lg.accepted.Load() >= before+100 })
	}
	progress("ingestion through both gateways")
	for _, sink := range []string{"postgres", "clickhouse"} {
		waitFor(t, 2*time.Minute, sink+" group with two members", func() bool { return h.groupMembers(sink) == 2 })
	}

	_ = gw1.Signal(syscall.SIGKILL, 10*time.Second)
	progress("ingestion with gateway 1 killed")
	_ = proj1.Signal(syscall.SIGKILL, 10*time.Second)
	progress("ingestion with projector 1 killed")
	stopLoad()
	if err := gw2.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("gateway 2 exit after SIGTERM: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 3*time.Minute, "both sinks at lag 0 (projector 2 alone)", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	if err := proj2.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("projector 2 exit after SIGTERM: %v", err)
	}
	acked, stored, lost, doubled := h.verifyStored(lg)
	t.Log(lg.summary())
	fmt.Printf("faults: %d injected, %d events acknowledged, %d stored, %d lost, %d doubled\n", 2, acked, stored, lost, doubled)
	if t.Failed() {
		return
	}
	ids := make([]string, 0, len(lg.acked))
	for id := range lg.acked {
		ids = append(ids, id)
	}
	h.checkQueryReplicasAgree(ids, stored)
}

// groupMembers is the number of members of a sink's consumer group (0 when
// it cannot be read).
func (h *harness) groupMembers(sink string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := h.adm.DescribeGroups(ctx, h.group(sink))
	if err != nil {
		return 0
	}
	g, ok := gs[h.group(sink)]
	if !ok || g.Err != nil {
		return 0
	}
	return len(g.Members)
}
