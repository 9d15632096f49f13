package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildProjector compiles the real binary (the test kills it with SIGKILL).
func buildProjector(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "projector")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = ".." // the module root holds main.go
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// spawn starts the projector binary with the harness flags.
func (h *harness) spawn(bin string, logf *os.File, extra ...string) *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(bin, h.args(extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // flags only: no PULSESTREAM_* from the test's environment
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd
}

func TestSigkilledProjectorRestartedEndsWithTheSameExactCounts(t *testing.T) {
	bin := buildProjector(t)
	h := newHarness(t, 3)
	recs, exp := h.dupLog(60000, 0.1)
	h.produce(recs...)
	h.holdMerges()
	logf, err := os.Create(filepath.Join(t.TempDir(), "projector.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// Small batches: many commits, so every kill lands between or inside writes.
	flags := []string{"--projector-batch-size", "500", "--projector-linger", "0s"}
	kills := 0
	for kills < 4 {
		cmd := h.spawn(bin, logf, flags...)
		// Kill it mid-run, once it wrote an eighth of the log past the last
		// kill: progress decides, not time, so a machine fast or slow is
		// killed four times with most of the log still ahead.
		before := h.pgTotal()
		waitFor(t, 60*time.Second, "progress before the kill", func() bool { return h.pgTotal() >= before+exp.total/8 || h.lag("postgres") == 0 })
		caughtUp := h.lag("postgres") == 0 && h.lag("clickhouse") == 0
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if caughtUp {
			t.Logf("the projector caught up before kill %d", kills+1)
			break
		}
		kills++
		t.Logf("kill %d: postgres rows %d, clickhouse rows %d", kills, h.pgTotal(), h.chRowCount())
	}
	if kills < 2 {
		t.Fatalf("only %d kills landed mid-run: make the log bigger", kills)
	}
	// Last run: to the end, then stop it gracefully.
	cmd := h.spawn(bin, logf, flags...)
	waitFor(t, 2*time.Minute, "both sinks at lag 0 after the restarts", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	if err := cmd.Wait(); err != nil {
		t.Errorf("projector exit after SIGTERM: %v", err)
	}
	if n := h.pgTotal(); n != exp.total {
		t.Fatalf("postgres rows %d, want %d", n, exp.total)
	}
	equalCounts(t, "postgres", h.pgCounts(), exp)
	equalCounts(t, "clickhouse rollup", h.chRollup(), exp)
	equalCounts(t, "clickhouse events FINAL", h.chFinal(), exp)
	if n := h.chRowCount(); n != exp.total {
		t.Fatalf("clickhouse stored %d rows, want %d", n, exp.total)
	}
	h.requireNoRawExcess()
	if t.Failed() {
		b, _ := os.ReadFile(logf.Name())
		t.Log(lastLines(string(b), 40))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
