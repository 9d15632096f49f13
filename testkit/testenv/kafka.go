package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteTopicsAtCleanup deletes topics from the brokers (comma-separated)
// when tb ends, so tests leave no topics behind on the shared broker.
func DeleteTopicsAtCleanup(tb testing.TB, brokers string, topics ...string) {
	tb.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
		if err != nil {
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topics...)
	})
}
