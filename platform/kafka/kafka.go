// Package kafka builds franz-go clients the PulseStream way: seed brokers and
// topic names from one Config, kprom metrics on the registry passed in,
// franz-go's own log lines through the service's slog logger (plugin/kslog,
// so its level setting applies), and topic creation with the partition count the project chooses (brokers run
// with auto-creation off).
package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Config names the brokers and the topics.
type Config struct {
	Brokers           string
	Topic             string
	DLQTopic          string
	Partitions        int
	ReplicationFactor int
	ClientID          string
}

// RegisterFlags defines the kafka-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "kafka-brokers", "127.0.0.1:19092", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.Topic, "kafka-topic", "events.v1", "topic holding the event log")
	fs.StringVar(&c.DLQTopic, "kafka-dlq-topic", "events.v1.dlq", "topic for records the projector cannot apply")
	fs.IntVar(&c.Partitions, "kafka-partitions", 6, "partitions of the event topic when PulseStream creates it")
	fs.IntVar(&c.ReplicationFactor, "kafka-replication-factor", 1, "replication factor of topics PulseStream creates")
	fs.StringVar(&c.ClientID, "kafka-client-id", "pulsestream", "Kafka client id")
}

// Validate names a bad Kafka setting.
func (c *Config) Validate() error {
	switch {
	case len(c.SeedBrokers()) == 0:
		return errors.New("kafka-brokers: at least one broker is required")
	case c.Topic == "":
		return errors.New("kafka-topic: must not be empty")
	case c.DLQTopic == "" || c.DLQTopic == c.Topic:
		return errors.New("kafka-dlq-topic: must be set and differ from kafka-topic")
	case c.Partitions < 1:
		return fmt.Errorf("kafka-partitions: must be at least 1, got %d", c.Partitions)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("kafka-replication-factor: must be at least 1, got %d", c.ReplicationFactor)
	}
	return nil
}

// SeedBrokers splits the broker list.
func (c *Config) SeedBrokers() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// NewClient returns a franz-go client with kprom metrics registered under
// namespace on reg (nil reg: no metrics) and its logs written to logger with
// the attribute kafka_client=namespace (nil logger: dropped). opts come last
// and win.
func NewClient(cfg Config, reg prometheus.Registerer, logger *slog.Logger, namespace string, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(cfg.SeedBrokers()...),
		kgo.ClientID(cfg.ClientID),
	}
	if logger != nil {
		base = append(base, kgo.WithLogger(kslog.New(logger.With("kafka_client", namespace))))
	}
	if reg != nil {
		m := kprom.NewMetrics(namespace, kprom.Registerer(reg), kprom.FetchAndProduceDetail(kprom.ByNode, kprom.Batches, kprom.Records, kprom.CompressedBytes, kprom.UncompressedBytes))
		base = append(base, kgo.WithHooks(m))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", cfg.Brokers, err)
	}
	return cl, nil
}

// EnsureTopics creates the event and DLQ topics when missing. Existing topics
// are left as they are (their partition count is never changed here, because
// that would move keys between partitions).
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config) error {
	adm := kadm.NewClient(cl)
	for _, t := range []string{cfg.Topic, cfg.DLQTopic} {
		resp, err := adm.CreateTopic(ctx, int32(cfg.Partitions), int16(cfg.ReplicationFactor), nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// Ping asks the cluster for its metadata: the readiness check for Kafka.
func Ping(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}
