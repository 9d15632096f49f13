package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/procstat"
)

// proc is a process whose CPU time the bench accounts per phase.
type proc struct {
	name string
	pid  int
	tree bool // count descendants too (PostgreSQL backends)
}

// infraProcs finds the local infrastructure's processes from the pid
// files scripts/*.sh write under dir (PULSESTREAM_LOCAL); missing ones are
// left out of the accounting.
func infraProcs(dir string) []proc {
	files := []struct {
		name, path string
		tree       bool
	}{
		{"kafka", "kafka/kafka.pid", false},
		{"redis", "redis/redis.pid", false},
		{"postgres", "postgres/postmaster.pid", true},
		{"clickhouse", "clickhouse.pid", true},
	}
	var out []proc
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.path))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil {
			continue
		}
		if _, err := procstat.CPU(pid); err == nil {
			out = append(out, proc{name: f.name, pid: pid, tree: f.tree})
		}
	}
	return out
}

// cpuSnapshot is the CPU seconds of each process at one moment.
type cpuSnapshot map[string]float64

func (b *run) snapshot() cpuSnapshot {
	s := cpuSnapshot{}
	for _, p := range b.procs {
		read := procstat.CPU
		if p.tree {
			read = procstat.TreeCPU
		}
		if d, err := read(p.pid); err == nil {
			s[p.name] = d.Seconds()
		}
	}
	return s
}

// perMillion is the CPU seconds each process spent between s and later,
// per million events.
func (s cpuSnapshot) perMillion(later cpuSnapshot, events int64) map[string]float64 {
	spent := cpuSnapshot{}
	spent.spend(s, later)
	return spent.per(events)
}

// spend adds to s the CPU seconds each process spent between before and
// after (all of after's when it started in between).
func (s cpuSnapshot) spend(before, after cpuSnapshot) {
	for name, v := range after {
		s[name] += v - before[name]
	}
}

// per is s (CPU seconds spent) per million events.
func (s cpuSnapshot) per(events int64) map[string]float64 {
	out := map[string]float64{}
	if events <= 0 {
		return out
	}
	for name, v := range s {
		out[name] = round(v/float64(events)*1e6, 2)
	}
	return out
}
