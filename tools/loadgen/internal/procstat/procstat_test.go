package procstat

import (
	"os"
	"testing"
	"time"
)

func TestOwnCPUTimeGrowsAndMemoryIsReported(t *testing.T) {
	pid := os.Getpid()
	before, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel's count (in clock ticks) shows it: on a loaded
	// machine 300 ms of wall time may hold less than a tick of CPU. A minute
	// of spinning with no growth is a broken reading.
	start, x := time.Now(), 0
	after := before
	for after <= before && time.Since(start) < time.Minute {
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
			x++
		}
		if after, err = TreeCPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before {
		t.Fatalf("CPU time did not grow after %s of spinning: %s -> %s (%d)", time.Since(start).Round(time.Millisecond), before, after, x)
	}
	peak, err := PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	rss, err := RSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || peak <= 0 { // VmHWM is updated lazily: it may trail VmRSS a little
		t.Fatalf("RSS %d, peak %d", rss, peak)
	}
	if _, err := CPU(1 << 30); err == nil {
		t.Fatal("a pid that does not exist gave a CPU time")
	}
}
