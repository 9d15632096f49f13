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
	end := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	after, err := TreeCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time did not grow after 300ms of spinning: %s -> %s (%d)", before, after, x)
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
