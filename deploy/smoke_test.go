package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServicesBecomeReadyWithTheRenderedSettingsAndStopCleanlyOnSIGTERM runs
// each service binary with the environment the chart gives its pod (default
// values), only pointed at the local backing services, unique topics, groups
// and Redis prefixes, and loopback ports. It proves the chart's values pass
// every service's validation (not only flag parsing), that /readyz answers
// 200 on the probed port, and that SIGTERM ends the process with exit code 0
// within terminationGracePeriodSeconds.
func TestServicesBecomeReadyWithTheRenderedSettingsAndStopCleanlyOnSIGTERM(t *testing.T) {
	if os.Getenv("PULSESTREAM_TEST_INTEGRATION") != "1" {
		t.Skip("integration test: set PULSESTREAM_TEST_INTEGRATION=1 (make test does, with scripts/env.sh)")
	}
	local := localOverrides(t)
	r := renderObjects(t, "--set", "shutdown.delaySeconds=1", "--set", "shutdown.drainSeconds=5")
	// gateway first: it creates the topics (kafka-ensure-topics)
	for _, svc := range []string{"gateway", "projector", "query"} {
		t.Run(svc, func(t *testing.T) {
			pod := r.deployments[svc].Spec.Template.Spec
			env, probeAddr := localServiceEnv(t, r, svc, local)
			cmd := exec.Command(binary(t, "services/"+svc))
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			exited := make(chan struct{})
			go func() { done <- cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			ready := false
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !ready; {
				select {
				case err := <-done:
					t.Fatalf("%s exited before it was ready: %v\n%s", svc, err, logs.String())
				case <-time.After(300 * time.Millisecond):
				}
				resp, err := http.Get("http://" + probeAddr + "/readyz")
				if err == nil {
					ready = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
			}
			if !ready {
				t.Fatalf("%s: /readyz on %s did not answer 200 within 60s\n%s", svc, probeAddr, logs.String())
			}

			grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: exit after SIGTERM: %v\n%s", svc, err, logs.String())
				}
				took := time.Since(start)
				if delay, _ := time.ParseDuration(env["PULSESTREAM_SHUTDOWN_DELAY"]); took < delay {
					t.Errorf("%s stopped %s after SIGTERM, before its shutdown delay %s: endpoints may still route to it", svc, took, delay)
				}
				t.Logf("%s ready, then stopped %s after SIGTERM (grace %s)", svc, took.Round(time.Millisecond), grace)
			case <-time.After(grace):
				t.Fatalf("%s still running %s after SIGTERM: the kubelet would SIGKILL it\n%s", svc, grace, logs.String())
			}
		})
	}
}

// localOverrides are the settings that point a rendered environment at the
// local backing services (scripts/env.sh) with a topic, consumer groups and
// Redis prefixes of its own.
func localOverrides(t *testing.T) map[string]string {
	t.Helper()
	local := map[string]string{}
	for _, k := range []string{"PULSESTREAM_KAFKA_BROKERS", "PULSESTREAM_POSTGRES_URL", "PULSESTREAM_REDIS_ADDR",
		"PULSESTREAM_CLICKHOUSE_ADDR", "PULSESTREAM_CLICKHOUSE_PROTOCOL", "PULSESTREAM_CLICKHOUSE_DATABASE"} {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set (source scripts/env.sh)", k)
		}
		local[k] = v
	}
	id := "deploy-" + randomHex(t)
	for k, v := range map[string]string{
		"PULSESTREAM_KAFKA_TOPIC":                "events." + id,
		"PULSESTREAM_KAFKA_DLQ_TOPIC":            "events." + id + ".dlq",
		"PULSESTREAM_QUARANTINE_TOPIC":           "events." + id + ".quarantine",
		"PULSESTREAM_QUARANTINE_GROUP":           id + "-quarantine",
		"PULSESTREAM_KAFKA_PARTITIONS":           "2",
		"PULSESTREAM_KAFKA_REPLICATION_FACTOR":   "1",
		"PULSESTREAM_PROJECTOR_GROUP_POSTGRES":   id + "-pg",
		"PULSESTREAM_PROJECTOR_GROUP_CLICKHOUSE": id + "-ch",
		"PULSESTREAM_REDIS_KEY_PREFIX":           id + ":",
		"PULSESTREAM_MARKERS_PREFIX":             id + ":",
		"PULSESTREAM_REDIS_PASSWORD":             "",
		"PULSESTREAM_CLICKHOUSE_PASSWORD":        "",
	} {
		local[k] = v
	}
	return local
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// localServiceEnv is the environment the chart gives svc's container with
// local's values in place of the rendered ones and every listener on a free
// loopback port; probeAddr is the listener the readiness probe names.
func localServiceEnv(t *testing.T, r rendered, svc string, local map[string]string) (env map[string]string, probeAddr string) {
	t.Helper()
	pod := r.deployments[svc].Spec.Template.Spec
	env = r.env(t, svc)
	probePort := pod.Containers[0].ReadinessProbe.HTTPGet.Port.StrVal
	for k := range env {
		if v, ok := local[k]; ok {
			env[k] = v
		}
		if strings.HasSuffix(k, "_ADDR") && strings.HasPrefix(env[k], ":") {
			addr := freeAddr(t)
			// the listener whose port the readiness probe names
			for _, p := range pod.Containers[0].Ports {
				if p.Name == probePort && env[k] == fmt.Sprintf(":%d", p.ContainerPort) {
					probeAddr = addr
				}
			}
			env[k] = addr
		}
	}
	if probeAddr == "" {
		t.Fatalf("no listener of %s serves the probed port %s", svc, probePort)
	}
	return env, probeAddr
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
