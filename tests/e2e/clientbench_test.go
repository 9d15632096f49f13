package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// TestClientThroughputIntoGateway is the client's part of `make bench`
// (bench/run.sh; skipped unless PULSESTREAM_CLIENT_BENCH_EVENTS is set): one
// process enqueues that many ~300-byte events through one Client into a
// gateway of its own (no projector, no query service on the box meanwhile),
// and prints events/s and the CPU seconds per million events of the test
// process (the client) and of the gateway. Every event must be accepted.
func TestClientThroughputIntoGateway(t *testing.T) {
	v := os.Getenv("PULSESTREAM_CLIENT_BENCH_EVENTS")
	if v == "" {
		t.Skip("benchmark: set PULSESTREAM_CLIENT_BENCH_EVENTS (make bench)")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("PULSESTREAM_CLIENT_BENCH_EVENTS=%q", v)
	}
	s := startStackWith(t, stackOptions{noQuery: true, noProjector: true})
	for _, gz := range []bool{false, true} {
		clientBench(t, s, n, gz)
	}
}

func clientBench(t *testing.T, s *stack, n int, gz bool) {
	var counts [4]atomic.Int64 // accepted, duplicate, rejected, failed
	idx := map[pulsestream.Status]int{pulsestream.Accepted: 0, pulsestream.Duplicate: 1, pulsestream.Rejected: 2, pulsestream.Failed: 3}
	var firstErr atomic.Pointer[error]
	c, err := pulsestream.New(pulsestream.Config{Endpoint: s.gatewayURL, APIKey: s.keyA, BatchMaxEvents: 1000, MaxInFlight: 8,
		BufferEvents: 50000, DisableGzip: !gz,
		OnOutcome: func(o pulsestream.Outcome) {
			counts[idx[o.Status]].Add(1)
			if o.Status == pulsestream.Failed {
				firstErr.CompareAndSwap(nil, &o.Err)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	data := json.RawMessage(`{"page":"/products/` + strings.Repeat("x", 240) + `","ms":123}`)
	run := randomHex(t, 4)
	cpu0, gw0 := selfCPU(t), procCPU(t, s.gateway.Pid())
	start := time.Now()
	for i := range n {
		if err := c.Enqueue(context.Background(), pulsestream.Event{ID: fmt.Sprintf("%s-%t-%d", run, gz, i), Type: "page.viewed",
			Source: "bench", Subject: "user-" + strconv.Itoa(i%1000), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	cpu, gw := selfCPU(t)-cpu0, procCPU(t, s.gateway.Pid())-gw0
	m := float64(n) / 1e6
	fmt.Printf("client-bench: gzip=%t %d events in %.2fs: %.0f events/s; CPU-s per million events: client %.2f, gateway %.2f; accepted %d duplicate %d rejected %d failed %d\n",
		gz, n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), cpu/m, gw/m, counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load())
	if counts[0].Load() != int64(n) {
		t.Fatalf("%d of %d accepted (first failure: %v)", counts[0].Load(), n, firstErr.Load())
	}
}

// selfCPU is the user+system CPU seconds of this process.
func selfCPU(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// procCPU is the user+system CPU seconds of pid (/proc/<pid>/stat).
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}
