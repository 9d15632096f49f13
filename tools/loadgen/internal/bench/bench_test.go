package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

func TestVisibilityLagPairsTheKthAcceptedEventWithTheFirstPollCountingK(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	accepts := []load.Acceptance{{At: at(100), N: 2}, {At: at(0), N: 1}} // out of order on purpose
	polls := []poll{{at(50), 0}, {at(150), 1}, {at(250), 3}}
	got := visibilityLags(accepts, polls)
	want := []time.Duration{150 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("lags %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("lags %v, want %v", got, want)
		}
	}
	if n := len(visibilityLags(accepts, polls[:2])); n != 1 {
		t.Fatalf("events never counted got samples: %d", n)
	}
}

func TestDrainRateIsMeasuredFromFirstRowsToAllRows(t *testing.T) {
	start := time.Unix(0, 0)
	polls := []poll{{start.Add(time.Second), 0}, {start.Add(2 * time.Second), 1000}, {start.Add(4 * time.Second), 11000}}
	if r := drainRate(polls, 11000, start); r != 5000 {
		t.Fatalf("rate %g, want 5000", r)
	}
	if r := drainRate(polls[:2], 1000, start); r != 500 {
		t.Fatalf("drained between two polls: rate %g, want 1000 rows over 2s from start", r)
	}
	if r := drainRate(polls[:1], 10, start); r != 0 {
		t.Fatalf("never drained: rate %g", r)
	}
}

func TestCheckerFindsMissingDoubledAndForeignRows(t *testing.T) {
	g := gen.Config{Prefix: "r", Tenants: []string{"a", "b"}, DataBytes: 100}
	exp := newExpectation("r")
	base := uint64(phaseBatch100) * phaseSpan
	exp.add(phaseBatch100, g, load.HTTPResult{AcceptedSq: []uint64{base, base + 1, base + 2, base + 2}, Uncertain: []uint64{base + 3}})
	ok := newChecker(exp)
	for _, s := range []uint64{base, base + 1, base + 2, base + 3} {
		e := g.Event(s)
		ok.row(e.Tenant, e.ID)
	}
	if p := ok.problems("pg"); len(p) != 0 || ok.uncertain != 1 {
		t.Fatalf("exact rows (plus one uncertain) gave problems %v, uncertain %d", p, ok.uncertain)
	}
	bad := newChecker(exp)
	e0, e1 := g.Event(base), g.Event(base+1)
	bad.row(e0.Tenant, e0.ID)
	bad.row(e0.Tenant, e0.ID)      // doubled
	bad.row("b", e0.ID)            // wrong tenant (seq 0 is tenant a)
	bad.row(e1.Tenant, "r-999")    // never sent
	bad.row(e1.Tenant, "other-12") // not ours
	if p := bad.problems("pg"); len(p) != 4 {
		t.Fatalf("want missing, doubled, unexpected and wrong-tenant problems, got %v", p)
	}
}

func TestTableShowsEveryPhaseAndTheVerdict(t *testing.T) {
	r := &Report{Phases: []Phase{{Name: "gateway-single", EventsPerSec: 10, Latency: stats.Latency{Count: 1, P50: 1.5}}, {Name: "project-postgres", EventsPerSec: 5}},
		Ratios: map[string]float64{}, PeakRSS: map[string]int64{}, Verification: Verification{OK: false, Problems: []string{"PostgreSQL: 3 accepted events missing"}}}
	r.Targets = targets(r)
	var b strings.Builder
	r.PrintTable(&b)
	out := b.String()
	for _, want := range []string{"gateway-single", "project-postgres", "1.50", "FAILED", "3 accepted events missing", "MISSED"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
