// Package procstat reads a process's CPU time and memory from /proc
// (Linux only): utime+stime of /proc/<pid>/stat and VmHWM/VmRSS of
// /proc/<pid>/status.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime; 100 on every Linux
// architecture Go supports.
const clockTick = 100

// stat returns the fields of /proc/<pid>/stat after the command name
// (field 3, the state, is index 0).
func stat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// CPU is the user + system CPU time pid has used.
func CPU(pid int) (time.Duration, error) { return ticks(pid, 11, 13) }

// reapedCPU is the CPU time of pid's children that exited and were waited
// for (cutime + cstime).
func reapedCPU(pid int) (time.Duration, error) { return ticks(pid, 13, 15) }

// ticks sums the clock-tick fields [from, to) of /proc/<pid>/stat (index
// 0 is field 3): utime and stime are 11 and 12, cutime and cstime 13 and 14.
func ticks(pid, from, to int) (time.Duration, error) {
	f, err := stat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < to {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var n int64
	for _, s := range f[from:to] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		n += v
	}
	return time.Duration(n) * time.Second / clockTick, nil
}

// Tree returns pid and all its living descendants.
func Tree(pid int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if f, err := stat(p); err == nil && len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for p, pp := range parent {
			if pp == out[i] {
				out = append(out, p)
			}
		}
	}
	return out
}

// TreeCPU is the CPU time of pid, its living descendants and the
// children it has reaped (PostgreSQL's postmaster reaps its backends, so
// the sum does not drop when a connection closes).
func TreeCPU(pid int) (time.Duration, error) {
	sum, err := reapedCPU(pid)
	if err != nil {
		return 0, err
	}
	for i, p := range Tree(pid) {
		d, err := CPU(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		sum += d
	}
	return sum, nil
}

// memory returns a kB field of /proc/<pid>/status in bytes.
func memory(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// PeakRSS is the peak resident set size of pid (VmHWM).
func PeakRSS(pid int) (int64, error) { return memory(pid, "VmHWM") }

// RSS is the current resident set size of pid (VmRSS).
func RSS(pid int) (int64, error) { return memory(pid, "VmRSS") }
