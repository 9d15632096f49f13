package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
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

// gatewayPhase is one closed-loop HTTP phase against the gateway.
type gatewayPhase struct {
	idx         int
	name        string
	batch, conc int
	dur         time.Duration
}

// gatewayPhases are the gateway-only phases (issue 15): batches of 100 and
// 1,000, and one event per request at two connection counts.
func (b *run) gatewayPhases() []gatewayPhase {
	c := b.cfg
	phases := []gatewayPhase{
		{phaseBatch100, "gateway-batch100", 100, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch100Schemas, "gateway-batch100-schemas", 100, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000, "gateway-batch1000", 1000, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000Schemas, "gateway-batch1000-schemas", 1000, c.BatchConcurrency, c.BatchDuration},
		{phaseBatch1000Signed, "gateway-batch1000-signed", 1000, c.BatchConcurrency, c.BatchDuration},
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
