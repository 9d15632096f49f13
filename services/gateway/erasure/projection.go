package erasure

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Projection tells whether the PostgreSQL projector has read the event topic
// up to given offsets: the worker reads a subject's ids from that read model,
// so it first waits until every event accepted before it started is there.
type Projection interface {
	// EndOffsets are the topic's next offsets now, per partition.
	EndOffsets(ctx context.Context) (map[int32]int64, error)
	// Reached reports whether the projector's group committed at least
	// target on every partition.
	Reached(ctx context.Context, target map[int32]int64) (bool, error)
}

// KafkaProjection compares the topic's end offsets with the committed
// offsets of the projector's PostgreSQL consumer group (kadm).
type KafkaProjection struct {
	adm          *kadm.Client
	topic, group string
}

// NewKafkaProjection watches group's progress on topic through cl.
func NewKafkaProjection(cl *kgo.Client, topic, group string) *KafkaProjection {
	return &KafkaProjection{adm: kadm.NewClient(cl), topic: topic, group: group}
}

// EndOffsets implements Projection.
func (p *KafkaProjection) EndOffsets(ctx context.Context) (map[int32]int64, error) {
	ends, err := p.adm.ListEndOffsets(ctx, p.topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", p.topic, err)
	}
	out := map[int32]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

// Reached implements Projection.
func (p *KafkaProjection) Reached(ctx context.Context, target map[int32]int64) (bool, error) {
	offs, err := p.adm.FetchOffsets(ctx, p.group)
	if err != nil {
		return false, fmt.Errorf("fetch offsets of group %s: %w", p.group, err)
	}
	for part, end := range target {
		if end <= 0 {
			continue
		}
		o, ok := offs.Lookup(p.topic, part)
		if !ok || o.Err != nil || o.At < end {
			return false, nil
		}
	}
	return true, nil
}
