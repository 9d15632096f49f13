package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
)

func TestSignedTwinsRunInTheSameGroupAsTheirPhase(t *testing.T) {
	b := &run{cfg: Config{BatchConcurrency: 8, SingleConcurrency: 128, SingleConcurrencyHigh: 512, BatchDuration: time.Second, SingleDuration: time.Second, Schemas: true}}
	var got [][]int
	for _, g := range gatewayGroups(b.gatewayPhases()) {
		var idx []int
		for _, p := range g {
			idx = append(idx, p.idx)
		}
		got = append(got, idx)
	}
	want := [][]int{{phaseBatch100}, {phaseBatch100Schemas}, {phaseBatch1000, phaseBatch1000Signed}, {phaseBatch1000Schemas},
		{phaseSingle, phaseSingleSigned}, {phaseSingleHigh}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups %v, want %v", got, want)
	}
}

func TestTurnsAlternateSoThatEachPhaseHoldsTheSameMeanPosition(t *testing.T) {
	if got, want := turns(2, 4), []int{0, 1, 1, 0, 0, 1, 1, 0}; !slices.Equal(got, want) {
		t.Fatalf("turns(2, 4) = %v, want %v", got, want)
	}
	if got := turns(1, 3); !slices.Equal(got, []int{0, 0, 0}) {
		t.Fatalf("turns(1, 3) = %v", got)
	}
}

func TestRoundsAddUpToOnePhase(t *testing.T) {
	var sum load.HTTPResult
	sum.Add(load.HTTPResult{Requests: 2, Accepted: 3, Elapsed: time.Second, Status: map[int]int64{200: 2}, AcceptedSq: []uint64{1, 2, 3}})
	sum.Add(load.HTTPResult{Requests: 1, Accepted: 1, Failed: 1, Elapsed: 2 * time.Second, Status: map[int]int64{200: 1, 503: 1}, AcceptedSq: []uint64{4}, Uncertain: []uint64{5}})
	if sum.Requests != 3 || sum.Accepted != 4 || sum.Failed != 1 || sum.Elapsed != 3*time.Second || sum.Status[200] != 3 || sum.Status[503] != 1 ||
		!slices.Equal(sum.AcceptedSq, []uint64{1, 2, 3, 4}) || !slices.Equal(sum.Uncertain, []uint64{5}) {
		t.Fatalf("sum %+v", sum)
	}
	spent := cpuSnapshot{}
	spent.spend(cpuSnapshot{"gateway": 10}, cpuSnapshot{"gateway": 11, "redis": 0.5}) // redis started in between
	spent.spend(cpuSnapshot{"gateway": 20, "redis": 1}, cpuSnapshot{"gateway": 22, "redis": 1.5})
	if got := spent.per(2_000_000); got["gateway"] != 1.5 || got["redis"] != 0.5 {
		t.Fatalf("per million %v, want gateway 1.5, redis 0.5", got)
	}
}
