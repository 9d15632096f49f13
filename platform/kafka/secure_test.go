package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/secure"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// settings is a Config from flag values, as a service gets it.
func settings(t *testing.T, kv ...string) kafka.Config {
	t.Helper()
	var c kafka.Config
	testenv.SetFlags(t, c.RegisterFlags, kv...)
	return c
}

// TestSASLSSLBrokerWithSCRAMAndPLAIN runs a private broker whose SASL_SSL
// listener requires a client certificate and a login: each mechanism
// produces and reads back a record; a wrong password, an untrusted broker
// certificate and a missing client certificate stop the start check naming
// the setting and the broker.
func TestSASLSSLBrokerWithSCRAMAndPLAIN(t *testing.T) {
	certs := testenv.NewCerts(t)
	k := testenv.StartSecureKafka(t, certs, map[string]string{"pulsestream": "s3cret-pw"})
	base := []string{"kafka-brokers", k.SecureBrokers, "kafka-tls", "true", "kafka-tls-ca", certs.CA,
		"kafka-tls-cert", certs.ClientCert, "kafka-tls-key", certs.ClientKey,
		"kafka-sasl-username", "pulsestream", "kafka-topic", "secured.v1", "kafka-dlq-topic", "secured.v1.dlq", "kafka-partitions", "1"}

	for i, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			cfg := settings(t, append(base, "kafka-sasl-mechanism", mech, "kafka-sasl-password", "s3cret-pw")...)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cl := client(t, cfg, kgo.DefaultProduceTopic(cfg.Topic), kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := secure.Check(ctx, nil, kafka.Probe(cl, cfg)); err != nil {
				t.Fatal(err)
			}
			if err := kafka.EnsureTopics(ctx, cl, cfg); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(mech)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for len(got) < i+1 {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			}
			if got[i] != mech {
				t.Fatalf("read back %q, want the record just produced last (%s)", got, mech)
			}
		})
	}

	t.Run("the chart's topics Job script", func(t *testing.T) {
		runTopicsScript(t, k, certs)
	})

	for _, tc := range []struct {
		name    string
		kv      []string
		setting string
	}{
		{"wrong password", []string{"kafka-sasl-mechanism", "SCRAM-SHA-512", "kafka-sasl-password", "wrong"}, "kafka-sasl-username and kafka-sasl-password"},
		{"wrong PLAIN password", []string{"kafka-sasl-mechanism", "PLAIN", "kafka-sasl-password", "wrong"}, "kafka-sasl-username and kafka-sasl-password"},
		{"untrusted broker certificate", []string{"kafka-sasl-mechanism", "SCRAM-SHA-512", "kafka-sasl-password", "s3cret-pw", "kafka-tls-ca", certs.OtherCA}, "kafka-tls-ca"},
		{"certificate for another name", []string{"kafka-sasl-mechanism", "SCRAM-SHA-512", "kafka-sasl-password", "s3cret-pw", "kafka-tls-server-name", "kafka.example.com"}, "kafka-tls-server-name"},
		{"client certificate from another CA", []string{"kafka-sasl-mechanism", "SCRAM-SHA-512", "kafka-sasl-password", "s3cret-pw",
			"kafka-tls-cert", certs.StrangerCert, "kafka-tls-key", certs.StrangerKey}, "kafka-tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := settings(t, append(base, tc.kv...)...)
			cl := client(t, cfg)
			start := time.Now()
			err := secure.Check(context.Background(), nil, kafka.Probe(cl, cfg))
			var refused *secure.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("start check: %v, want the broker's refusal", err)
			}
			if !strings.HasPrefix(err.Error(), tc.setting+": kafka at "+k.SecureBrokers+" refused the connection: ") {
				t.Fatalf("message %q does not start with the setting %q and the broker %s", err, tc.setting, k.SecureBrokers)
			}
			t.Logf("%s after %s", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

func client(t *testing.T, cfg kafka.Config, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kafka.NewClient(cfg, nil, nil, "pulsestream_test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runTopicsScript runs the Helm chart's topics Job script
// (deploy/helm/pulsestream/files/topics.sh) with Kafka's tools from the
// project's jars against the SASL_SSL listener, with the environment the Job
// gives it (TLS, CA, client certificate, SCRAM login), and checks the topics
// and their configs on the broker.
func runTopicsScript(t *testing.T, k *testenv.SecureKafka, certs *testenv.Certs) {
	root := testenv.Root(t)
	libs := filepath.Join(os.Getenv("PULSESTREAM_LOCAL"), "kafka", "libs")
	if os.Getenv("PULSESTREAM_LOCAL") == "" {
		libs = filepath.Join(root, ".local", "kafka", "libs")
	}
	bin := t.TempDir()
	for script, class := range map[string]string{"kafka-topics.sh": "org.apache.kafka.tools.TopicCommand", "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand"} {
		wrapper := fmt.Sprintf("#!/bin/sh\nexec java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '%s/*' %s \"$@\"\n", libs, class)
		if err := os.WriteFile(filepath.Join(bin, script), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-e", filepath.Join(root, "deploy", "helm", "pulsestream", "files", "topics.sh"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BIN=" + bin, "TMPDIR=" + t.TempDir(),
		"BROKERS=" + k.SecureBrokers, "TOPIC=chart.v1", "DLQ_TOPIC=chart.v1.dlq", "PARTITIONS=2", "REPLICATION_FACTOR=1",
		"TOPIC_CONFIGS=cleanup.policy=compact,segment.ms=86400000", "DLQ_TOPIC_CONFIGS=retention.ms=1209600000",
		"QUARANTINE_TOPIC=chart.v1.quarantine", "QUARANTINE_TOPIC_CONFIGS=cleanup.policy=delete,retention.ms=259200000",
		"TLS=true", "TLS_CA=" + certs.CA, "TLS_CERT=" + certs.ClientCert, "TLS_KEY=" + certs.ClientKey,
		"SASL_MECHANISM=SCRAM-SHA-512", "SASL_USERNAME=pulsestream", "SASL_PASSWORD=s3cret-pw"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("topics.sh: %v\n%s", err, out)
	}
	cfg := settings(t, "kafka-brokers", k.SecureBrokers, "kafka-tls", "true", "kafka-tls-ca", certs.CA,
		"kafka-tls-cert", certs.ClientCert, "kafka-tls-key", certs.ClientKey,
		"kafka-sasl-mechanism", "SCRAM-SHA-512", "kafka-sasl-username", "pulsestream", "kafka-sasl-password", "s3cret-pw")
	adm := kadm.NewClient(client(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, "chart.v1", "chart.v1.dlq")
	if err != nil {
		t.Fatal(err)
	}
	if d := details["chart.v1"]; d.Err != nil || len(d.Partitions) != 2 {
		t.Fatalf("chart.v1: %d partitions, %v", len(d.Partitions), d.Err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "chart.v1", "chart.v1.dlq", "chart.v1.quarantine")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"chart.v1": {"cleanup.policy": "compact", "segment.ms": "86400000"}, "chart.v1.dlq": {"retention.ms": "1209600000"},
		"chart.v1.quarantine": {"cleanup.policy": "delete", "retention.ms": "259200000"}}
	for _, r := range rc {
		for _, c := range r.Configs {
			if w, ok := want[r.Name][c.Key]; ok && (c.Value == nil || *c.Value != w) {
				t.Errorf("%s %s = %v, want %s", r.Name, c.Key, c.Value, w)
			}
			delete(want[r.Name], c.Key)
		}
	}
	for topic, missing := range want {
		if len(missing) > 0 {
			t.Errorf("%s lacks %v", topic, missing)
		}
	}
}
