package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// A gateway stops promptly even while its quarantine consumer's group is
// waiting for a member that does not rejoin: franz-go's Close finishes a
// join in progress before it leaves, which would hold the gateway until the
// group's rebalance timeout (a minute), past a pod's grace period.
func TestIntegrationGatewayStopsWhileItsQuarantineGroupWaitsForAHungMember(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	run := randomID(t)
	topic, group := "gw-leave-"+run+".quarantine", "gw-leave-"+run+"-quarantine"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, kgo.SeedBrokers(brokers)))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	testenv.DeleteTopicsAtCleanup(t, brokers, topic)

	// The hung member: it takes the partition, then does not return from its
	// assignment callback until the test ends, so it cannot rejoin when the
	// gateway joins. (Released, it is assigned again as the group settles.)
	assigned, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	hung := newClient(t, kgo.SeedBrokers(brokers), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.RebalanceTimeout(time.Minute),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			first.Do(func() { close(assigned) })
			<-release
		}))
	go hung.PollFetches(ctx)
	select {
	case <-assigned:
	case <-ctx.Done():
		t.Fatal("the hung member was never assigned the partition")
	}
	t.Cleanup(func() { close(release) }) // runs before newClient's Close

	env := startRealGateway(t, slog.New(slog.DiscardHandler), tenancy.TenantSettings{}, func(c *Config) {
		c.Quarantine.Topic, c.Quarantine.Group = topic, group
	})
	for {
		groups, err := adm.DescribeGroups(ctx, group)
		if err == nil && groups[group].State == "PreparingRebalance" {
			break // the gateway's join waits for the hung member
		}
		if ctx.Err() != nil {
			t.Fatalf("the group never started rebalancing: %v %v", groups, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	env.stop()
	// The bound is the leave wait plus the producer flush; without it the
	// stop takes until the hung member's rebalance timeout (a minute).
	if took := time.Since(start); took > quarantineLeaveWait+15*time.Second {
		t.Fatalf("gateway took %s to stop while its quarantine group was rebalancing", took)
	}
}

// newClient is a franz-go client closed at the end of the test.
func newClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
