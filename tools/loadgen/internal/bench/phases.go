package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/procstat"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

// Phase indexes: the sequence numbers of phase i start at i*phaseSpan.
const (
	phaseRaw = iota
	phaseBatch100
	phaseBatch1000
	phaseSingle
	phaseE2E
)

// expectation is what the read models must hold: per phase, the event
// generator and the sequence numbers accepted at least once, and those of
// failed requests (which may or may not be stored).
type expectation struct {
	prefix    string // of every event id (gen.Config.Prefix)
	gens      map[int]gen.Config
	accepted  map[int]*stats.Set
	uncertain map[int]*stats.Set
}

func newExpectation(prefix string) *expectation {
	return &expectation{prefix: prefix, gens: map[int]gen.Config{}, accepted: map[int]*stats.Set{}, uncertain: map[int]*stats.Set{}}
}

// add records the outcome of HTTP phase p.
func (e *expectation) add(p int, g gen.Config, res load.HTTPResult) {
	e.gens[p] = g
	acc, unc := stats.NewSet(uint64(p)*phaseSpan), stats.NewSet(uint64(p)*phaseSpan)
	for _, s := range res.AcceptedSq {
		acc.Add(s)
	}
	for _, s := range res.Uncertain {
		if !acc.Has(s) {
			unc.Add(s)
		}
	}
	e.accepted[p], e.uncertain[p] = acc, unc
}

func (e *expectation) total() (accepted, uncertain int) {
	for p := range e.accepted {
		accepted += e.accepted[p].Len()
		uncertain += e.uncertain[p].Len()
	}
	return accepted, uncertain
}

func (b *run) run(ctx context.Context) (*Report, error) {
	rep := &Report{RunID: b.id, StartedAt: b.started, Machine: machine(), Config: b.configMap(),
		Ratios: map[string]float64{}, PeakRSS: map[string]int64{}}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	exp := newExpectation(b.id)
	raw, err := b.rawPhase(ctx)
	if err != nil {
		return nil, err
	}
	rep.Phases = append(rep.Phases, raw)
	for _, group := range gatewayGroups(b.gatewayPhases()) {
		ps, err := b.gatewayGroup(ctx, exp, group)
		if err != nil {
			return nil, err
		}
		for i, p := range ps {
			rep.Phases = append(rep.Phases, p)
			if raw.EventsPerSec > 0 && group[i].batch > 1 {
				rep.Ratios[strings.TrimPrefix(p.Name, "gateway-")] = round(p.EventsPerSec/raw.EventsPerSec, 3)
			}
		}
	}
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	proj, err := b.projectionPhases(ctx, conn, exp)
	if err != nil {
		return nil, err
	}
	rep.Phases = append(rep.Phases, proj...)
	if err := b.e2ePhases(ctx, conn, exp, rep); err != nil {
		return nil, err
	}
	for _, s := range []*service{b.gateway, b.proj, b.query} {
		if v, err := procstat.PeakRSS(s.pid()); err == nil {
			rep.PeakRSS[s.name] = v
		}
	}
	if v, err := procstat.PeakRSS(os.Getpid()); err == nil {
		rep.PeakRSS["loadgen"] = v
	}
	rep.Verification = b.verify(ctx, conn, exp)
	rep.Targets = append(targets(rep), projectionTargets(rep)...)
	rep.Profiles = b.profiles
	rep.Seconds = round(time.Since(b.started).Seconds(), 1)
	if !rep.Verification.OK {
		return rep, fmt.Errorf("verification failed: %s", strings.Join(rep.Verification.Problems, "; "))
	}
	return rep, nil
}

func (b *run) configMap() map[string]any {
	c := b.cfg
	return map[string]any{"tenants": c.Tenants, "data_bytes": c.DataBytes, "dup_ratio": c.DupRatio, "gzip": c.Gzip, "partitions": c.Partitions,
		"raw_duration": c.RawDuration.String(), "batch_duration": c.BatchDuration.String(), "single_duration": c.SingleDuration.String(),
		"e2e_duration": c.E2EDuration.String(), "batch_concurrency": c.BatchConcurrency, "single_concurrency": c.SingleConcurrency, "single_concurrency_high": c.SingleConcurrencyHigh,
		"signed_rounds": c.SignedRounds, "e2e_rate": c.E2ERate, "e2e_rate_high": c.E2ERateHigh, "sink_alone": c.SinkAlone, "schemas": c.Schemas, "e2e_batch": c.E2EBatch, "e2e_concurrency": c.E2EConcurrency, "poll_interval": c.PollInterval.String(), "max_events_per_phase": c.MaxEvents}
}

func (b *run) rawPhase(ctx context.Context) (Phase, error) {
	b.logf("phase raw-kafka: franz-go producer straight to %s for %s", b.rawTopic, b.cfg.RawDuration)
	g := b.genConfig(b.tenants)
	before := b.snapshot()
	res, err := load.RunKafka(ctx, load.KafkaConfig{Brokers: strings.Split(b.cfg.Brokers, ","), Topic: b.rawTopic, Gen: g,
		SeqBase: phaseRaw * phaseSpan, Duration: b.cfg.RawDuration, MaxEvents: b.cfg.MaxEvents, Linger: 2 * time.Millisecond, Producers: 2})
	if err != nil {
		return Phase{}, err
	}
	after := b.snapshot()
	p := Phase{Name: "raw-kafka", Description: "franz-go producer, idempotent acks=all, lz4, linger 2ms, same keys/values/headers as the gateway's records; latency = produce call to ack",
		Events: res.Records, Accepted: res.Records, Failed: res.Failed, Seconds: round(res.Elapsed.Seconds(), 2),
		Latency: stats.Summarize(res.Latencies), CPUPerMillion: before.perMillion(after, res.Records)}
	p.EventsPerSec = round(float64(res.Records)/res.Elapsed.Seconds(), 0)
	p.DataMBPerSec = round(float64(res.DataBytes)/1e6/res.Elapsed.Seconds(), 2)
	p.WireMBPerSec = round(float64(res.Bytes)/1e6/res.Elapsed.Seconds(), 2)
	if res.FirstError != "" {
		p.Errors = []string{res.FirstError}
	}
	return p, nil
}

func (b *run) httpConfig(idx int, tenants []string, batch, conc int, rate float64, dur time.Duration) load.HTTPConfig {
	g := b.genConfig(tenants)
	g.Order = schemaPhase(idx)
	cfg := load.HTTPConfig{URL: "http://" + b.gateway.addr, Keys: b.keys, Gen: g, SeqBase: uint64(idx) * phaseSpan,
		Concurrency: conc, Batch: batch, Gzip: b.cfg.Gzip, Rate: rate, DupRatio: b.cfg.DupRatio, Duration: dur, MaxEvents: b.cfg.MaxEvents, Seed: uint64(idx)}
	if signedPhase(idx) {
		cfg.Secrets = b.secrets
	}
	return cfg
}

func httpPhaseResult(name string, res load.HTTPResult, dataBytes int, cpu map[string]float64) Phase {
	s := res.Elapsed.Seconds()
	ok := res.Accepted + res.Duplicate
	return Phase{Name: name, Events: ok, Accepted: res.Accepted, Duplicate: res.Duplicate, Rejected: res.Rejected, Failed: res.Failed,
		Missed: res.Missed, Requests: res.Requests, Seconds: round(s, 2), EventsPerSec: round(float64(ok)/s, 0),
		RequestsPerS: round(float64(res.Requests)/s, 0), DataMBPerSec: round(float64(ok)*float64(dataBytes)/1e6/s, 2),
		WireMBPerSec: round(float64(res.WireBytes)/1e6/s, 2), Latency: stats.Summarize(res.Latencies), CPUPerMillion: cpu,
		Status: res.Status, Errors: res.Errors}
}
