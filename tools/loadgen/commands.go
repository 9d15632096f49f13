package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/bench"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/load"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func benchCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var c bench.Config
	fs.StringVar(&c.Bin, "bin", "bin", "directory holding gateway, projector, query, pulsectl and migrate")
	fs.StringVar(&c.WorkDir, "work-dir", ".local/bench", "directory for the started services' logs")
	fs.StringVar(&c.ResultsDir, "results-dir", "bench/results", "directory of the JSON reports")
	fs.StringVar(&c.LocalDir, "local-dir", envOr("PULSESTREAM_LOCAL", ".local"), "PULSESTREAM_LOCAL: pid files of the infrastructure, for its CPU time")
	fs.StringVar(&c.Brokers, "kafka-brokers", envOr("PULSESTREAM_KAFKA_BROKERS", "127.0.0.1:19092"), "Kafka seed brokers")
	fs.StringVar(&c.PGURL, "postgres-url", envOr("PULSESTREAM_POSTGRES_URL", ""), "PostgreSQL URL of a role that may CREATE DATABASE")
	fs.StringVar(&c.RedisAddr, "redis-addr", envOr("PULSESTREAM_REDIS_ADDR", "127.0.0.1:16379"), "Redis address")
	fs.StringVar(&c.CHAddr, "clickhouse-addr", envOr("PULSESTREAM_CLICKHOUSE_ADDR", "127.0.0.1:18123"), "ClickHouse HTTP address")
	fs.IntVar(&c.Tenants, "tenants", 4, "tenants of the load phases")
	fs.IntVar(&c.DataBytes, "data-bytes", 300, "bytes of each event's data")
	fs.Float64Var(&c.DupRatio, "dup-ratio", 0.05, "share of events that repeat an accepted one")
	fs.BoolVar(&c.Gzip, "gzip", false, "gzip request bodies")
	fs.IntVar(&c.Partitions, "partitions", 6, "partitions of the bench topics")
	fs.DurationVar(&c.RawDuration, "raw-duration", 10*time.Second, "raw Kafka phase")
	fs.DurationVar(&c.BatchDuration, "batch-duration", 8*time.Second, "each gateway batch phase")
	fs.DurationVar(&c.SingleDuration, "single-duration", 8*time.Second, "gateway single-event phase")
	fs.DurationVar(&c.E2EDuration, "e2e-duration", 15*time.Second, "end-to-end phase")
	fs.Int64Var(&c.MaxEvents, "max-events", 1_000_000, "most events per phase")
	fs.IntVar(&c.SignedRounds, "signed-rounds", 4, "rounds in which batch1000 and single and their signed twins take turns (order ABBA ABBA..., each round 1/n of the phase's duration)")
	fs.IntVar(&c.BatchConcurrency, "batch-concurrency", 8, "batch requests in flight")
	fs.IntVar(&c.SingleConcurrency, "single-concurrency", 128, "single-event requests in flight (first single-event phase)")
	fs.IntVar(&c.SingleConcurrencyHigh, "single-concurrency-high", 512, "single-event requests in flight (second single-event phase)")
	fs.Float64Var(&c.E2ERate, "e2e-rate", 20000, "events/s offered in the end-to-end phase")
	fs.Float64Var(&c.E2ERateHigh, "e2e-rate-high", 40000, "events/s offered in a second end-to-end phase (other tenants); 0 skips it")
	fs.BoolVar(&c.Schemas, "schemas", true, "run batch100/batch1000 again into tenants enforcing a realistic event schema (false: binaries older than event schemas, for A/B runs)")
	fs.BoolVar(&c.SinkAlone, "sink-alone", true, "after the projection phase, drain the same backlog again with each sink alone (its read model emptied first)")
	fs.IntVar(&c.E2EBatch, "e2e-batch", 100, "events per request in the end-to-end phase")
	fs.IntVar(&c.E2EConcurrency, "e2e-concurrency", 64, "most requests in flight in the end-to-end phase (open loop: a request that finds every one busy is not sent and counted as missed)")
	fs.DurationVar(&c.PollInterval, "poll-interval", 100*time.Millisecond, "how often the read models are counted")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 3*time.Minute, "longest wait for the read models to hold every accepted event")
	fs.IntVar(&c.Samples, "samples", 200, "accepted events whose content is compared in each read model")
	fs.BoolVar(&c.Profile, "profile", false, "sample the gateway (batch1000, single, their signed twins) and the projector (projection) with Linux perf; flat profiles and perf.data in -work-dir")
	fs.BoolVar(&c.Keep, "keep", false, "keep the bench databases, topics and consumer groups")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+f+"\n", a...) }
	rep, err := bench.Run(ctx, c, logf)
	if rep != nil {
		fmt.Println()
		rep.PrintTable(os.Stdout)
		if rep.Path != "" {
			fmt.Printf("\nreport: %s\n", rep.Path)
		}
	}
	return err
}

// loadFlags are the event and bound flags of http and kafka.
type loadFlags struct {
	tenants   string
	dataBytes int
	duration  time.Duration
	maxEvents int64
	prefix    string
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.tenants, "tenants", "demo", "comma-separated tenants (http: tenant=key pairs)")
	fs.IntVar(&l.dataBytes, "data-bytes", 300, "bytes of each event's data")
	fs.DurationVar(&l.duration, "duration", 10*time.Second, "how long to send")
	fs.Int64Var(&l.maxEvents, "max-events", 1_000_000, "most events to send")
	fs.StringVar(&l.prefix, "id-prefix", fmt.Sprintf("lg%d", time.Now().Unix()), "prefix of every event id")
}

func (l *loadFlags) gen(tenants []string) gen.Config {
	return gen.Config{Prefix: l.prefix, Tenants: tenants, DataBytes: l.dataBytes, Base: time.Now().UTC().Truncate(time.Second)}
}

func httpCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var l loadFlags
	l.register(fs)
	url := fs.String("url", "http://127.0.0.1:8080", "gateway base URL")
	conc := fs.Int("concurrency", 8, "requests in flight")
	batch := fs.Int("batch", 100, "events per request (1: single-event requests)")
	gz := fs.Bool("gzip", false, "gzip request bodies")
	rate := fs.Float64("rate", 0, "offered events/s (open loop); 0: closed loop")
	dup := fs.Float64("dup-ratio", 0, "share of events that repeat an accepted one")
	signing := fs.String("signing-secrets", "", "comma-separated tenant=signing-secret pairs: sign every request (RFC 9421, with a nonce)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, tenants, err := pairs("-tenants", l.tenants, "tenant=key")
	if err != nil {
		return err
	}
	var secrets map[string]string
	if *signing != "" {
		if secrets, _, err = pairs("-signing-secrets", *signing, "tenant=secret"); err != nil {
			return err
		}
	}
	res, err := load.RunHTTP(ctx, load.HTTPConfig{URL: *url, Keys: keys, Secrets: secrets, Gen: l.gen(tenants), Concurrency: *conc, Batch: *batch,
		Gzip: *gz, Rate: *rate, DupRatio: *dup, Duration: l.duration, MaxEvents: l.maxEvents, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	s := res.Elapsed.Seconds()
	return printJSON(map[string]any{"requests": res.Requests, "events": res.Events, "accepted": res.Accepted, "duplicate": res.Duplicate,
		"rejected": res.Rejected, "failed": res.Failed, "missed": res.Missed, "seconds": s, "events_per_sec": float64(res.Accepted+res.Duplicate) / s,
		"requests_per_sec": float64(res.Requests) / s, "latency": stats.Summarize(res.Latencies), "status": res.Status, "errors": res.Errors})
}

// pairs parses a flag of comma-separated name=value pairs (what says how
// they are written), returning them and their names in order.
func pairs(flag, s, what string) (map[string]string, []string, error) {
	m := map[string]string{}
	var names []string
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%s: want %s pairs, got %q", flag, what, kv)
		}
		m[k] = v
		names = append(names, k)
	}
	return m, names, nil
}

func kafkaCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var l loadFlags
	l.register(fs)
	brokers := fs.String("kafka-brokers", envOr("PULSESTREAM_KAFKA_BROKERS", "127.0.0.1:19092"), "Kafka seed brokers")
	topic := fs.String("topic", "", "existing topic to write to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := load.RunKafka(ctx, load.KafkaConfig{Brokers: strings.Split(*brokers, ","), Topic: *topic, Gen: l.gen(strings.Split(l.tenants, ",")),
		Duration: l.duration, MaxEvents: l.maxEvents, Linger: 2 * time.Millisecond, Producers: 2})
	if err != nil {
		return err
	}
	s := res.Elapsed.Seconds()
	return printJSON(map[string]any{"records": res.Records, "failed": res.Failed, "seconds": s, "events_per_sec": float64(res.Records) / s,
		"mb_per_sec": float64(res.Bytes) / 1e6 / s, "latency": stats.Summarize(res.Latencies), "first_error": res.FirstError})
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
