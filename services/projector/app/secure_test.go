package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/projector/app"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestProjectorConsumesFromASASLSSLBroker runs both sinks' consumer groups
// against a private broker whose SASL_SSL listener requires a client
// certificate and a SCRAM-SHA-256 login (the group coordinator, fetches,
// commits and the DLQ producer all go through it): the events reach
// PostgreSQL and ClickHouse. A wrong password stops New naming the setting
// and the broker. (PostgreSQL and ClickHouse TLS and logins go through the
// same platform packages as the query service's, tested there.)
func TestProjectorConsumesFromASASLSSLBroker(t *testing.T) {
	h := newHarness(t, 1)
	certs := testenv.NewCerts(t)
	k := testenv.StartSecureKafka(t, certs, map[string]string{"projector": "kafka-pw"})
	secured := []string{"--kafka-brokers", k.SecureBrokers, "--kafka-tls", "--kafka-tls-ca", certs.CA,
		"--kafka-tls-cert", certs.ClientCert, "--kafka-tls-key", certs.ClientKey,
		"--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-username", "projector", "--kafka-sasl-password", "kafka-pw"}
	var kc kafka.Config
	if _, err := config.Parse("test", append(secured, "--kafka-topic", h.topic, "--kafka-dlq-topic", h.dlq, "--kafka-partitions", "1"), &kc); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewClient(kc, nil, nil, "test", kgo.DefaultProduceTopic(h.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, prod, kc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := prod.ProduceSync(ctx, h.eventRecord(h.event(id, types[0], baseTime))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	h.start(secured...)
	waitFor(t, time.Minute, "3 events in PostgreSQL and ClickHouse", func() bool { return h.pgTotal() == 3 && h.chRowCount() == 3 })

	var cfg app.Config
	if _, err := config.Parse("projector", h.args(append(secured, "--kafka-sasl-password", "wrong")...), cfg.Components()...); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler), observe.NewRegistry())
	if err == nil {
		a.Close()
		t.Fatal("New started with a wrong Kafka password")
	}
	if want := "kafka-sasl-username and kafka-sasl-password: kafka at " + k.SecureBrokers + " refused the connection"; !strings.Contains(err.Error(), want) {
		t.Fatalf("New: %v\nwant it to say %q", err, want)
	}
	t.Log(err)
}
