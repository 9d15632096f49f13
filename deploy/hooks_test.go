package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// TestTopicsHookCreatesAndConfiguresTheTopics runs the chart's topics Job
// script (its args and environment) against the local Kafka broker. The
// Job's image (apache/kafka) cannot be pulled here, so KAFKA_BIN points the
// script at two stand-ins for its kafka-topics.sh and kafka-configs.sh that run
// the same Kafka CLI classes from the local broker's jars (scripts/kafka.sh).
// (platform/kafka's secure test runs files/topics.sh over TLS and SASL; this
// one runs the Job as the chart renders it.) Run twice, as on install and upgrade: the
// second run finds the topics and applies the configs again.
func TestTopicsHookCreatesAndConfiguresTheTopics(t *testing.T) {
	if os.Getenv("PULSESTREAM_TEST_IMAGE") != "1" || os.Getenv("PULSESTREAM_TEST_INTEGRATION") != "1" {
		t.Skip("runs Kafka's CLI against the local broker (~1 min of JVM starts): make test-deploy")
	}
	libs := filepath.Join(os.Getenv("PULSESTREAM_LOCAL"), "kafka", "libs")
	if _, err := os.Stat(libs); err != nil {
		t.Fatalf("no Kafka jars at %s (make infra puts them there): %v", libs, err)
	}
	bin := t.TempDir()
	for script, class := range map[string]string{"kafka-topics.sh": "org.apache.kafka.tools.TopicCommand", "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand"} {
		writeFile(t, filepath.Join(bin, script), []byte("#!/bin/sh\nexec java -Xmx256m -XX:TieredStopAtLevel=1 -cp '"+libs+"/*' "+class+" \"$@\"\n"))
		if err := os.Chmod(filepath.Join(bin, script), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	r := renderObjects(t, "--set", "config.kafka-partitions=3", "--set", "config.kafka-replication-factor=1",
		"--set", "topics.events.min\\.insync\\.replicas=1", "--set", "topics.dlq.min\\.insync\\.replicas=1")
	var job *batchv1.Job
	for _, o := range r.objs {
		if j, ok := o.(*batchv1.Job); ok && j.Labels["app.kubernetes.io/component"] == "topics" {
			job = j
		}
	}
	if job == nil {
		t.Fatal("no topics Job rendered")
	}
	c := job.Spec.Template.Spec.Containers[0]
	topic := "events.deploy-hook-" + randomHex(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "KAFKA_BIN=" + bin, "TMPDIR=" + t.TempDir()}
	for _, e := range c.Env {
		switch e.Name {
		case "BROKERS":
			e.Value = os.Getenv("PULSESTREAM_KAFKA_BROKERS")
		case "TOPIC":
			e.Value = topic
		case "DLQ_TOPIC":
			e.Value = topic + ".dlq"
		case "QUARANTINE_TOPIC":
			e.Value = topic + ".quarantine"
		case "LOG_DIR":
			e.Value = t.TempDir()
		}
		env = append(env, e.Name+"="+e.Value)
	}
	for run := 1; run <= 2; run++ {
		cmd := exec.Command(c.Command[0], append(c.Command[1:], c.Args...)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("topics Job script, run %d: %v\n%s", run, err, out)
		}
	}
	describe := func(args ...string) string {
		cmd := exec.Command(filepath.Join(bin, args[0]), append([]string{"--bootstrap-server", os.Getenv("PULSESTREAM_KAFKA_BROKERS")}, args[1:]...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		for _, tp := range []string{topic, topic + ".dlq", topic + ".quarantine"} {
			_ = exec.Command(filepath.Join(bin, "kafka-topics.sh"), "--bootstrap-server", os.Getenv("PULSESTREAM_KAFKA_BROKERS"), "--delete", "--topic", tp).Run()
		}
	})
	if out := describe("kafka-topics.sh", "--describe", "--topic", topic); strings.Count(out, "Partition: ") != 3 {
		t.Errorf("%s: want 3 partitions:\n%s", topic, out)
	}
	for tp, want := range map[string][]string{topic: {"cleanup.policy=compact", "max.compaction.lag.ms=604800000"}, topic + ".dlq": {"cleanup.policy=delete", "retention.ms=1209600000"},
		topic + ".quarantine": {"cleanup.policy=delete", "retention.ms=259200000"}} {
		out := describe("kafka-configs.sh", "--describe", "--entity-type", "topics", "--entity-name", tp)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: config %s not applied:\n%s", tp, w, out)
			}
		}
	}
}
