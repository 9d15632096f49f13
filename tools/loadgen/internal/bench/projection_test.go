package bench

import (
	"testing"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

func TestProjectionTargetsTakeTheSlowerSinkAndTheBothSinksCPU(t *testing.T) {
	cpu := map[string]float64{"projector": 5, "postgres": 16, "clickhouse": 8}
	r := &Report{Phases: []Phase{
		{Name: "project-postgres", EventsPerSec: 70000, CPUPerMillion: cpu},
		{Name: "project-clickhouse", EventsPerSec: 59000, CPUPerMillion: cpu},
		{Name: "project-postgres-alone", EventsPerSec: 95000},
		{Name: "e2e-high", Missed: 1},
	}, VisibilityHigh: &Lag{Postgres: stats.Latency{P99: 1500}, ClickHouse: stats.Latency{P99: 1900}}}
	got := map[string]Target{}
	for _, tg := range projectionTargets(r) {
		got[tg.Name] = tg
	}
	want := map[string]struct {
		measured float64
		met      bool
	}{
		"projection into both stores events/s (issue 14)": {59000, false},
		"projection, postgres alone, events/s":            {95000, true},
		"e2e-high visibility p99 ms":                      {1900, false}, // events not sent: the rate was not offered
		"projection CPU-s per million, projector":         {5, true},
		"projection CPU-s per million, postgres":          {16, false},
		"projection CPU-s per million, clickhouse":        {8, true},
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %d (no ClickHouse-alone phase ran)", got, len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g.Measured != w.measured || g.Met != w.met {
			t.Errorf("%s: %+v, want measured %g met %v", name, g, w.measured, w.met)
		}
	}
}
