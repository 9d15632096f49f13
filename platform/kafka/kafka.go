// Package kafka builds franz-go clients the PulseStream way: seed brokers and
// topic names from one Config, kprom metrics on the registry passed in,
// franz-go's own log lines through the service's slog logger (plugin/kslog,
// so its level setting applies), and topic creation with the partition count the project chooses (brokers run
// with auto-creation off).
//
// Secured brokers: TLS from the kafka-tls* block (platform/secure) and SASL
// PLAIN or SCRAM-SHA-256/512 through franz-go's pkg/sasl/plain and
// pkg/sasl/scram (kafka-sasl-mechanism, -username, -password), so a
// SASL_SSL listener (MSK with SCRAM, Confluent Cloud, Aiven, Strimzi) is a
// matter of settings. OAUTHBEARER and AWS_MSK_IAM are left out: franz-go
// has the mechanisms but not the token or AWS credential sources they need,
// and no local broker here could test them.
package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/pulsestream/pulsestream/platform/secure"
)

// SASL mechanisms accepted by kafka-sasl-mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config names the brokers and the topics.
type Config struct {
	Brokers           string
	Topic             string
	DLQTopic          string
	Partitions        int
	ReplicationFactor int
	ClientID          string
	TLS               secure.TLS
	SASLMechanism     string
	SASLUsername      string
	SASLPassword      string
}

// RegisterFlags defines the kafka-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "kafka-brokers", "127.0.0.1:19092", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.Topic, "kafka-topic", "events.v1", "topic holding the event log")
	fs.StringVar(&c.DLQTopic, "kafka-dlq-topic", "events.v1.dlq", "topic for records the projector cannot apply")
	fs.IntVar(&c.Partitions, "kafka-partitions", 6, "partitions of the event topic when PulseStream creates it")
	fs.IntVar(&c.ReplicationFactor, "kafka-replication-factor", 1, "replication factor of topics PulseStream creates")
	fs.StringVar(&c.ClientID, "kafka-client-id", "pulsestream", "Kafka client id")
	c.TLS.RegisterFlags(fs, "kafka", "Kafka broker")
	fs.StringVar(&c.SASLMechanism, "kafka-sasl-mechanism", "", `SASL mechanism: "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (use with kafka-tls: PLAIN sends the password as it is)`)
	fs.StringVar(&c.SASLUsername, "kafka-sasl-username", "", "SASL user name (with kafka-sasl-mechanism)")
	fs.StringVar(&c.SASLPassword, "kafka-sasl-password", "", "SASL password (with kafka-sasl-mechanism)")
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
	if _, err := c.saslMechanism(); err != nil {
		return err
	}
	return c.TLS.Validate()
}

// saslMechanism is the franz-go mechanism of the SASL settings (nil: none).
func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	mech := strings.ToUpper(strings.TrimSpace(c.SASLMechanism))
	if mech == "" {
		if c.SASLUsername != "" || c.SASLPassword != "" {
			return nil, errors.New("kafka-sasl-username and kafka-sasl-password: set while kafka-sasl-mechanism is empty; name the mechanism")
		}
		return nil, nil
	}
	if c.SASLUsername == "" || c.SASLPassword == "" {
		return nil, fmt.Errorf("kafka-sasl-username and kafka-sasl-password: both are required with kafka-sasl-mechanism %s", mech)
	}
	switch mech {
	case SASLPlain:
		return plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka-sasl-mechanism: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", c.SASLMechanism)
}

// securityOpts are the TLS and SASL options of the settings.
func (c *Config) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		// franz-go clones it per broker and fills ServerName with the
		// broker's host when kafka-tls-server-name is empty.
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	mech, err := c.saslMechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
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
	base, err := cfg.securityOpts()
	if err != nil {
		return nil, err
	}
	base = append(base, kgo.SeedBrokers(cfg.SeedBrokers()...), kgo.ClientID(cfg.ClientID))
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

// EnsureTopics creates the event and DLQ topics, and any extra ones (the
// gateway's quarantine topic), when missing. Existing topics
// are left as they are (their partition count is never changed here, because
// that would move keys between partitions).
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config, extra ...string) error {
	adm := kadm.NewClient(cl)
	for _, t := range append([]string{cfg.Topic, cfg.DLQTopic}, extra...) {
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

// Probe is the start-time access check of cl (secure.Check): a broker that
// refuses the TLS handshake or the SASL login stops the service, naming the
// setting.
func Probe(cl *kgo.Client, cfg Config) secure.Probe {
	return secure.Probe{
		Name:    "kafka",
		Server:  cfg.Brokers,
		Timeout: 10 * time.Second,
		Ping: func(ctx context.Context) error {
			if err := cfg.tlsRoundTrip(ctx); err != nil {
				return err
			}
			return cl.Ping(ctx)
		},
		Refused: func(err error) string {
			switch {
			case errors.Is(err, kerr.SaslAuthenticationFailed):
				return "kafka-sasl-username and kafka-sasl-password"
			case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
				return "kafka-sasl-mechanism"
			}
			return cfg.TLS.TLSSetting(err)
		},
	}
}

// apiVersionsV0 is an ApiVersions request, version 0, correlation id 1, no
// client id: the one request a broker answers before any SASL login.
var apiVersionsV0 = []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}

// tlsRoundTrip sends ApiVersions to the first seed broker over TLS
// (secure.DialFirstAnswer: a client certificate the broker refuses after a
// TLS 1.3 handshake is named, not met by franz-go as a bare reset and
// retried until the probe's time is spent); nothing without TLS.
func (c *Config) tlsRoundTrip(ctx context.Context) error {
	if !c.TLS.Enabled {
		return nil
	}
	tc, err := c.TLS.Config()
	if err != nil {
		return err
	}
	return secure.DialFirstAnswer(ctx, c.SeedBrokers()[0], tc, apiVersionsV0)
}

// Ping asks the cluster for its metadata: the readiness check for Kafka.
func Ping(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}
