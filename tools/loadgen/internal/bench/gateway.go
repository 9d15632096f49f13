package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
)

// phaseSingleHigh numbers the second single-event phase after the others,
// so the sequence numbers of existing phases keep their ranges.
const phaseSingleHigh = phaseE2E + 1

// The signed twins of batch1000 and the first single phase (issue 26):
// every request signed (RFC 9421 hmac-sha256, Content-Digest, nonce), the
// same load otherwise, numbered after every other phase.
const (
	phaseBatch1000Signed = phaseE2EHigh + 1 + iota
	phaseSingleSigned
)

func signedPhase(idx int) bool { return idx == phaseBatch1000Signed || idx == phaseSingleSigned }

// signedTwins maps a gateway phase to its signed twin.
var signedTwins = map[int]int{phaseBatch1000: phaseBatch1000Signed, phaseSingle: phaseSingleSigned}

// gatewayPhase is one closed-loop HTTP phase against the gateway.
type gatewayPhase struct {
	idx         int
	name        string
	batch, conc int
	dur         time.Duration
}

// gatewayGroups groups phases to run: each alone, except a phase and its
// signed twin, which run together (gatewayGroup).
func gatewayGroups(phases []gatewayPhase) [][]gatewayPhase {
	byIdx := map[int]gatewayPhase{}
	for _, p := range phases {
		byIdx[p.idx] = p
	}
	var groups [][]gatewayPhase
	for _, p := range phases {
		if signedPhase(p.idx) {
			continue
		}
		g := []gatewayPhase{p}
		if twin, ok := byIdx[signedTwins[p.idx]]; ok && signedPhase(twin.idx) {
			g = append(g, twin)
		}
		groups = append(groups, g)
	}
	return groups
}

// phaseRun is one phase of a group: its load, and the sums over its rounds.
type phaseRun struct {
	ph   gatewayPhase
	cfg  load.HTTPConfig
	res  load.HTTPResult
	cpu  cpuSnapshot // CPU seconds spent during its rounds
	prof *profiler
}

// gatewayGroup runs a phase alone for its duration, or a phase and its
// signed twin in Config.SignedRounds rounds of duration/rounds each, taking
// turns in the order ABBA ABBA... (so that a steady drift, such as the
// process warming up or other load coming and going, falls on both alike).
// A phase's figures are the sums over its rounds: one sequence of events
// (one counter), its CPU time spent during its own rounds only, and its
// profile sampled during them only.
func (b *run) gatewayGroup(ctx context.Context, exp *expectation, group []gatewayPhase) ([]Phase, error) {
	rounds := 1
	if len(group) > 1 {
		rounds = b.cfg.SignedRounds
	}
	runs := make([]*phaseRun, len(group))
	for i, ph := range group {
		b.logf("phase %s: %d events per request, %d in flight, %s in %d round(s)", ph.name, ph.batch, ph.conc, ph.dur, rounds)
		cfg := b.httpConfig(ph.idx, b.phaseTenants(ph.idx), ph.batch, ph.conc, 0, ph.dur/time.Duration(rounds))
		cfg.Counter = gen.NewCounter(cfg.SeqBase, len(cfg.Gen.Tenants))
		if cfg.MaxEvents > 0 {
			cfg.MaxEvents = (cfg.MaxEvents + int64(rounds) - 1) / int64(rounds)
		}
		runs[i] = &phaseRun{ph: ph, cfg: cfg, cpu: cpuSnapshot{}, res: load.HTTPResult{Status: map[int]int64{}}}
		if profiledPhase(ph.idx) {
			runs[i].prof = b.startProfile(ph.name, b.gateway)
		}
	}
	var err error
	for i, k := range turns(len(runs), rounds) {
		if err = b.gatewayRound(ctx, runs[k], i/len(runs)); err != nil {
			break
		}
	}
	out := make([]Phase, len(runs))
	for i, pr := range runs {
		b.addProfile(pr.ph.name, pr.prof.stop(b))
		exp.add(pr.ph.idx, pr.cfg.Gen, pr.res)
		out[i] = httpPhaseResult(pr.ph.name, pr.res, b.cfg.DataBytes, pr.cpu.per(pr.res.Accepted+pr.res.Duplicate))
		out[i].Description = fmt.Sprintf("closed loop, %d in flight, %d events per request, gzip %v, dup ratio %g, %d round(s)",
			pr.ph.conc, pr.ph.batch, b.cfg.Gzip, b.cfg.DupRatio, rounds)
	}
	return out, err
}

// turns is the order in which n phases run in rounds: 0..n-1 in even
// rounds, n-1..0 in odd ones (ABBA ABBA...).
func turns(n, rounds int) []int {
	out := make([]int, 0, n*rounds)
	for r := range rounds {
		for k := range n {
			if r%2 == 1 {
				k = n - 1 - k
			}
			out = append(out, k)
		}
	}
	return out
}

// gatewayRound runs round r of pr and adds it to pr's sums.
func (b *run) gatewayRound(ctx context.Context, pr *phaseRun, r int) error {
	cfg := pr.cfg
	cfg.Seed = uint64(pr.ph.idx) + uint64(r)<<32 // each round's duplicate picks its own
	b.sampling(pr.prof, true)
	before := b.snapshot()
	res, err := load.RunHTTP(ctx, cfg)
	after := b.snapshot()
	b.sampling(pr.prof, false)
	if err != nil {
		return err
	}
	pr.res.Add(res)
	pr.cpu.spend(before, after)
	return nil
}

// profiledPhase: the gateway phases --profile samples.
func profiledPhase(idx int) bool {
	switch idx {
	case phaseBatch1000, phaseSingle, phaseSingleHigh, phaseBatch1000Signed, phaseSingleSigned:
		return true
	}
	return false
}

// gatewayPhases are the gateway-only phases (issue 15): batches of 100 and
// 1,000, and one event per request at two connection counts.
func (b *run) gatewayPhases() []gatewayPhase {
	c := b.cfg
	phases := []gatewayPhase{
		{phaseBatch100, "gateway-batch100", 100, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch100Schemas, "gateway-batch100-schemas", 100, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000, "gateway-batch1000", 1000, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000Signed, "gateway-batch1000-signed", 1000, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000Schemas, "gateway-batch1000-schemas", 1000, c.BatchConcurrency, c.BatchDuration},
		{phaseSingle, fmt.Sprintf("gateway-single%d", c.SingleConcurrency), 1, c.SingleConcurrency, c.SingleDuration},
		{phaseSingleSigned, fmt.Sprintf("gateway-single%d-signed", c.SingleConcurrency), 1, c.SingleConcurrency, c.SingleDuration},
		{phaseSingleHigh, fmt.Sprintf("gateway-single%d", c.SingleConcurrencyHigh), 1, c.SingleConcurrencyHigh, c.SingleDuration},
	}
	if !c.Schemas {
		phases = slices.DeleteFunc(phases, func(p gatewayPhase) bool { return schemaPhase(p.idx) })
	}
	return phases
}

// printGatewayCPU writes each gateway phase's CPU per request (µs) and per
// event (CPU-s per million events, as elsewhere) of the gateway, Redis, the
// broker and the load generator.
func (r *Report) printGatewayCPU(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\ngateway phases, CPU per request (µs) | per million events (CPU-s):")
	cols := []string{"gateway", "redis", "kafka", "loadgen"}
	fmt.Fprint(tw, "phase\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s µs/req\t", c)
	}
	for _, c := range cols {
		fmt.Fprintf(tw, "%s s/M\t", c)
	}
	fmt.Fprintln(tw)
	for _, p := range r.Phases {
		if p.Requests == 0 || len(p.Name) < 8 || p.Name[:8] != "gateway-" {
			continue
		}
		fmt.Fprint(tw, p.Name+"\t")
		for _, c := range cols {
			fmt.Fprintf(tw, "%.1f\t", p.CPUPerMillion[c]*float64(p.Events)/float64(p.Requests))
		}
		for _, c := range cols {
			fmt.Fprintf(tw, "%.2f\t", p.CPUPerMillion[c])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// gatewayTargets are issue 15's goals for the gateway phases.
func gatewayTargets(r *Report, ph map[string]Phase) []Target {
	lo := ph[fmt.Sprintf("gateway-single%v", r.Config["single_concurrency"])]
	hi := ph[fmt.Sprintf("gateway-single%v", r.Config["single_concurrency_high"])]
	b100, b1000 := ph["gateway-batch100"], ph["gateway-batch1000"]
	loSigned, b1000Signed := ph[fmt.Sprintf("gateway-single%v-signed", r.Config["single_concurrency"])], ph["gateway-batch1000-signed"]
	perReq, perReqSigned := gatewayCPUPerRequest(lo), gatewayCPUPerRequest(loSigned)
	batchCost, singleCost := ratio(b1000Signed.CPUPerMillion["gateway"], b1000.CPUPerMillion["gateway"]), ratio(perReqSigned, perReq)
	return []Target{
		{"single-event req/s (first single phase)", ">= 20000", lo.RequestsPerS, lo.RequestsPerS >= 20000},
		{"single-event p99 ms (first single phase)", "< 20", lo.Latency.P99, lo.Latency.P99 < 20},
		{"single-event req/s (second single phase)", ">= 30000", hi.RequestsPerS, hi.RequestsPerS >= 30000},
		{"batch100 events/s", ">= 120000", b100.EventsPerSec, b100.EventsPerSec >= 120000},
		{"batch100 p99 ms", "< 50", b100.Latency.P99, b100.Latency.P99 < 50},
		{"batch1000 events/s", ">= 150000", b1000.EventsPerSec, b1000.EventsPerSec >= 150000},
		{"gateway CPU µs per single request", "<= 50", perReq, perReq <= 50},
		{"gateway CPU-s per million batch1000 events", "<= 5", b1000.CPUPerMillion["gateway"], b1000.CPUPerMillion["gateway"] <= 5},
		{"Redis CPU-s per million batch1000 events", "<= 2", b1000.CPUPerMillion["redis"], b1000.CPUPerMillion["redis"] <= 2},
		{"signed/unsigned gateway CPU per batch1000 event", "<= 1.10", batchCost, batchCost > 0 && batchCost <= 1.10},
		{"signed/unsigned gateway CPU per single request", "<= 1.20", singleCost, singleCost > 0 && singleCost <= 1.20},
	}
}

// gatewayCPUPerRequest is the gateway's CPU µs per request of phase p.
func gatewayCPUPerRequest(p Phase) float64 {
	if p.Requests == 0 {
		return 0
	}
	return p.CPUPerMillion["gateway"] * float64(p.Events) / float64(p.Requests)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 3)
}
