// Command pulseimport sends NDJSON or JSON-array files of CloudEvents (or
// stdin) to the PulseStream gateway through the Go client, with progress,
// a file of rejected records and their codes, and resumption: run the same
// command again after an interruption (see clients/go/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
	"github.com/pulsestream/pulsestream/clients/go/internal/importer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	o, err := parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulseimport:", err)
		return 2
	}
	t, err := importer.Run(ctx, o)
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "pulseimport: interrupted; the checkpoint is saved: run the same command to resume")
		return 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "pulseimport:", err)
		return 1
	}
	if n := t.Rejected.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "pulseimport: %d records rejected (see the rejects file)\n", n)
	}
	return 0
}

func parse(args []string) (importer.Options, error) {
	fs := flag.NewFlagSet("pulseimport", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pulseimport [flags] [file ...]   (no file or \"-\": stdin; NDJSON or a JSON array of events)")
		fs.PrintDefaults()
	}
	endpoint := fs.String("endpoint", envOr("PULSESTREAM_GATEWAY_URL", "http://127.0.0.1:8080"), "gateway base URL (env PULSESTREAM_GATEWAY_URL)")
	key := fs.String("api-key", os.Getenv("PULSESTREAM_API_KEY"), "API key with the ingest scope (env PULSESTREAM_API_KEY)")
	secret := fs.String("signing-secret", "", "the key's signing secret: sign every request (RFC 9421), as a key with require_signature needs (env PULSESTREAM_SIGNING_SECRET, preferred: a flag shows in ps)")
	var o importer.Options
	fs.StringVar(&o.RejectsPath, "rejects", "", "rejected records with their codes, one JSON object per line (default <file>.rejects.ndjson, stdin.rejects.ndjson)")
	fs.StringVar(&o.StatePath, "state", "", "checkpoint file (default <file>.pulseimport.json; none for stdin)")
	fs.StringVar(&o.Namespace, "id-namespace", "", "prefix of the ids given to events without one (default: the input's base name, \"stdin\")")
	batch := fs.Int("batch", 1000, "most events per request")
	batchBytes := fs.Int("batch-bytes", 4<<20, "most JSON bytes per request before compression")
	inFlight := fs.Int("in-flight", 4, "requests in flight")
	linger := fs.Duration("linger", 20*time.Millisecond, "how long a batch that is not full waits")
	gzip := fs.Bool("gzip", true, "compress request bodies")
	attempts := fs.Int("max-attempts", 10, "requests per event before it counts as failed")
	retryTime := fs.Duration("max-retry-time", 5*time.Minute, "how long one batch is retried")
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, else log lines), bar, log or none")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Inputs = fs.Args()
	if *secret == "" {
		*secret = os.Getenv("PULSESTREAM_SIGNING_SECRET")
	}
	o.Client = pulsestream.Config{Endpoint: *endpoint, APIKey: *key, SigningSecret: *secret, BatchMaxEvents: *batch, BatchMaxBytes: *batchBytes,
		MaxInFlight: *inFlight, Linger: *linger, DisableGzip: !*gzip,
		Retry: pulsestream.RetryPolicy{MaxAttempts: *attempts, MaxElapsedTime: *retryTime}}
	o.Progress = os.Stderr
	switch *progress {
	case "auto":
		o.ProgressBar = term.IsTerminal(int(os.Stderr.Fd()))
	case "bar":
		o.ProgressBar = true
	case "log":
	case "none":
		o.Progress = nil
	default:
		return o, errors.New("-progress: auto, bar, log or none")
	}
	return o, o.Client.Validate()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
