package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// profiler samples one process's stacks with Linux perf while a phase
// runs (Config.Profile): the live service under the bench's load, where a
// Go benchmark profile would only show the service's own code. It starts
// paused; resume and pause (perf's control FIFO) bound the sampling to the
// phase's own rounds when phases run interleaved.
type profiler struct {
	cmd      *exec.Cmd
	data     string
	ctl, ack *os.File // perf record --control FIFOs
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

// startProfile starts `perf record` on pid, paused, or returns nil when
// profiling is off or perf cannot run (the reason is logged).
func (b *run) startProfile(phase string, s *service) *profiler {
	if !b.cfg.Profile || s == nil {
		return nil
	}
	base := filepath.Join(b.cfg.WorkDir, fmt.Sprintf("%s-%s-%s", b.id, phase, s.name))
	p := &profiler{data: base + ".perf.data"}
	var err error
	if p.ctl, p.ack, err = controlFIFOs(base); err != nil {
		b.logf("profile %s: %v", phase, err)
		return nil
	}
	p.cmd = exec.Command("perf", "record", "-q", "-F", "499", "-g", "-D", "-1", "--control", "fifo:"+p.ctl.Name()+","+p.ack.Name(),
		"-p", fmt.Sprint(s.pid()), "-o", p.data)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		b.logf("profile %s: perf record: %v", phase, err)
		p.closeFIFOs()
		return nil
	}
	return p
}

// controlFIFOs makes and opens perf's control and acknowledgement FIFOs
// (read-write, so that opening never waits for perf). Their names have no
// comma: perf's --control separates the two names by one.
func controlFIFOs(base string) (ctl, ack *os.File, err error) {
	base = strings.ReplaceAll(base, ",", "+")
	var files []*os.File
	for _, name := range []string{base + ".ctl", base + ".ack"} {
		_ = os.Remove(name)
		if err := syscall.Mkfifo(name, 0o600); err != nil {
			return nil, nil, fmt.Errorf("mkfifo %s: %w", name, err)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
	return files[0], files[1], nil
}

// sampling starts (on) or stops sampling p (nil: not profiling); it waits
// for perf's acknowledgement, so no sample of another phase is taken. A
// failure is logged (the profile then covers more or less than the phase).
func (b *run) sampling(p *profiler, on bool) {
	c := "disable"
	if on {
		c = "enable"
	}
	if err := p.command(c); err != nil {
		b.logf("profile: %v", err)
	}
}

// ackTimeout bounds the wait for perf to acknowledge a command (it answers
// in milliseconds; a loaded machine is given a generous margin).
const ackTimeout = 30 * time.Second

func (p *profiler) command(c string) error {
	if p == nil {
		return nil
	}
	if _, err := p.ctl.WriteString(c + "\n"); err != nil {
		return fmt.Errorf("perf control %s: %w", c, err)
	}
	_ = p.ack.SetReadDeadline(time.Now().Add(ackTimeout))
	buf := make([]byte, 16)
	n, err := p.ack.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "ack") {
		return fmt.Errorf("perf control %s: no acknowledgement (%q, %v)", c, buf[:n], err)
	}
	return nil
}

func (p *profiler) closeFIFOs() {
	for _, f := range []*os.File{p.ctl, p.ack} {
		f.Close()
		os.Remove(f.Name())
	}
}

// stop ends the recording and writes the flat profile (self time per
// symbol) next to the data file; it returns the report's path.
func (p *profiler) stop(b *run) string {
	if p == nil {
		return ""
	}
	defer p.closeFIFOs()
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
