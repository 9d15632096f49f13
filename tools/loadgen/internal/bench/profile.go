package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// profiler samples one process's stacks with Linux perf while a phase
// runs (Config.Profile): the live service under the bench's load, where a
// Go benchmark profile would only show the service's own code.
type profiler struct {
	cmd  *exec.Cmd
	data string
}

func (b *run) addProfile(phase, path string) {
	if path == "" {
		return
	}
	if b.profiles == nil {
		b.profiles = map[string]string{}
	}
	b.profiles[phase] = path
}

// startProfile starts `perf record` on pid, or returns nil when profiling
// is off or perf cannot run (the reason is logged).
func (b *run) startProfile(phase string, s *service) *profiler {
	if !b.cfg.Profile || s == nil {
		return nil
	}
	data := filepath.Join(b.cfg.WorkDir, fmt.Sprintf("%s-%s-%s.perf.data", b.id, phase, s.name))
	cmd := exec.Command("perf", "record", "-q", "-F", "499", "-g", "-p", fmt.Sprint(s.pid()), "-o", data)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.logf("profile %s: perf record: %v", phase, err)
		return nil
	}
	return &profiler{cmd: cmd, data: data}
}

// stop ends the recording and writes the flat profile (self time per
// symbol) next to the data file; it returns the report's path.
func (p *profiler) stop(b *run) string {
	if p == nil {
		return ""
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	out := p.data[:len(p.data)-len(".perf.data")] + ".perf.txt"
	rep, err := exec.Command("perf", "report", "-i", p.data, "--stdio", "--no-children", "-g", "none", "--percent-limit", "0.7", "--sort", "dso,symbol").Output()
	if err != nil {
		b.logf("profile: perf report: %v", err)
		return ""
	}
	if err := os.WriteFile(out, rep, 0o644); err != nil {
		b.logf("profile: %v", err)
		return ""
	}
	b.logf("profile: %s", out)
	return out
}
