package ingest

import (
	"flag"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The durability promise (2xx only once every in-sync replica has the
// event, and never a retry written twice into one partition) rests on
// franz-go's producer defaults: acks=all and the idempotent producer.
// ProducerOpts must keep both.
func TestProducerOptsKeepAcksAllAndIdempotence(t *testing.T) {
	var c ProducerConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	cl, err := kgo.NewClient(append(c.ProducerOpts(), kgo.SeedBrokers("127.0.0.1:1"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.RequiredAcks); got != kgo.AllISRAcks() {
		t.Errorf("required acks %v, want all in-sync replicas", got)
	}
	if got := cl.OptValue(kgo.DisableIdempotentWrite); got != false {
		t.Errorf("idempotent writes disabled (%v)", got)
	}
}
