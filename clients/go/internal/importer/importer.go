// Package importer is the bulk import behind cmd/pulseimport: it reads
// NDJSON or JSON-array files (or stdin), sends every event through the
// client library, writes rejected records to a file with their codes, and
// keeps a checkpoint so that an interrupted import resumes where the
// records stop having final outcomes.
//
// Resuming is safe twice over: the checkpoint only covers records whose
// outcome is final, and every event has a stable id (its own, or one made
// from the input's name, the record number and the record's bytes), so
// whatever is sent again is answered "duplicate" by the gateway, never
// stored twice.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// Options is one import run.
type Options struct {
	Inputs      []string // files; "-" is stdin
	Client      pulsestream.Config
	RejectsPath string // default: <input>.rejects.ndjson ("stdin.rejects.ndjson" for stdin); only with one input
	StatePath   string // default: <input>.pulseimport.json; stdin has none; only with one input
	Namespace   string // of generated ids; default: the input's base name ("stdin")
	Progress    io.Writer
	ProgressBar bool // a bar (a terminal); else a line every LogEvery
	LogEvery    time.Duration
}

// Totals counts the outcomes of this run.
type Totals struct {
	Read, Skipped, Accepted, Duplicate, Rejected, Failed atomic.Int64

	input atomic.Pointer[progressInput] // the input being read
}

// ErrFailed reports that some events have no final outcome: re-run the
// same command to resume.
var ErrFailed = errors.New("some events failed after retries; run the same import again to resume")

// Run imports every input in turn with one client.
func Run(ctx context.Context, o Options) (*Totals, error) {
	if len(o.Inputs) == 0 {
		o.Inputs = []string{"-"}
	}
	if len(o.Inputs) > 1 && (o.RejectsPath != "" || o.StatePath != "") {
		return nil, errors.New("-rejects and -state name one input's files: give one input, or use the defaults beside each input")
	}
	t := &Totals{}
	var ledgerErr atomic.Pointer[error] // the first error writing the rejects file
	cfg := o.Client
	user := cfg.OnOutcome
	cfg.OnOutcome = func(out pulsestream.Outcome) {
		t.outcome(out)
		if m, ok := out.Meta.(*meta); ok {
			if err := m.l.final(m.no, finOf(out, m)); err != nil {
				ledgerErr.CompareAndSwap(nil, &err)
			}
		}
		if user != nil {
			user(out)
		}
	}
	c, err := pulsestream.New(cfg)
	if err != nil {
		return nil, err
	}
	stop := o.report(t)
	defer stop()
	for _, in := range o.Inputs {
		if err = importOne(ctx, c, o, in, t); err != nil {
			break
		}
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cerr := c.Close(closeCtx); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case err != nil:
		return t, err
	case ledgerErr.Load() != nil:
		return t, *ledgerErr.Load()
	case t.Failed.Load() > 0:
		return t, ErrFailed
	}
	return t, nil
}

// meta travels with each event to its outcome.
type meta struct {
	l   *ledger
	no  int64
	raw []byte
}

func finOf(out pulsestream.Outcome, m *meta) fin {
	if out.Status != pulsestream.Rejected {
		return fin{status: out.Status}
	}
	return fin{status: out.Status, rej: &rejection{Line: m.no, ID: out.ID, Code: out.Code, Message: out.Message, Event: m.raw}}
}

func (t *Totals) outcome(out pulsestream.Outcome) {
	switch out.Status {
	case pulsestream.Accepted:
		t.Accepted.Add(1)
	case pulsestream.Duplicate:
		t.Duplicate.Add(1)
	case pulsestream.Rejected:
		t.Rejected.Add(1)
	default:
		t.Failed.Add(1)
	}
}

// input is one opened input with its state and rejects files.
type input struct {
	name, statePath string
	r               io.Reader
	size            int64
	close           func()
	cp              checkpoint
	rf              *os.File
}

func openInput(o Options, in string) (*input, error) {
	x := &input{name: in, close: func() {}}
	rejects := o.RejectsPath
	if in == "-" {
		x.name, x.r = "stdin", os.Stdin
		if rejects == "" {
			rejects = "stdin.rejects.ndjson"
		}
	} else {
		f, err := os.Open(in)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		x.r, x.size, x.close = f, st.Size(), func() { f.Close() }
		if rejects == "" {
			rejects = in + ".rejects.ndjson"
		}
		if x.statePath = o.StatePath; x.statePath == "" {
			x.statePath = in + ".pulseimport.json"
		}
		if err := x.resume(in); err != nil {
			x.close()
			return nil, err
		}
	}
	rf, err := os.OpenFile(rejects, os.O_RDWR|os.O_CREATE, 0o644)
	if err == nil {
		// Rejections past the checkpoint are written again by this run.
		err = rf.Truncate(x.cp.RejectsBytes)
	}
	if err == nil {
		_, err = rf.Seek(x.cp.RejectsBytes, io.SeekStart)
	}
	if err != nil {
		x.close()
		return nil, fmt.Errorf("rejects file %s: %w", rejects, err)
	}
	x.rf = rf
	return x, nil
}

// resume loads the checkpoint of file in, if it is for this very input.
func (x *input) resume(in string) error {
	head, err := headHash(in)
	if err != nil {
		return err
	}
	cp, err := loadCheckpoint(x.statePath)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(in)
	if cp.Records > 0 && cp.HeadSHA256 != head {
		return fmt.Errorf("state file %s is for another input (its first 64 KiB differ): remove it to import %s from the start", x.statePath, in)
	}
	cp.Input, cp.HeadSHA256 = abs, head
	x.cp = cp
	return nil
}

func importOne(ctx context.Context, c *pulsestream.Client, o Options, in string, t *Totals) error {
	x, err := openInput(o, in)
	if err != nil {
		return err
	}
	defer x.close()
	defer x.rf.Close()
	ns := o.Namespace
	if ns == "" {
		ns = filepath.Base(x.name)
	}
	l := newLedger(x.cp, x.rf)
	save := func() error {
		if x.statePath == "" {
			_, err := l.snapshot()
			return err
		}
		cp, err := l.snapshot()
		if err != nil {
			return err
		}
		return cp.save(x.statePath)
	}
	done := make(chan struct{})
	saved := make(chan error, 1)
	go func() { // checkpoint every second while sending
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				saved <- nil
				return
			case <-tick.C:
				if err := save(); err != nil {
					saved <- err
					return
				}
			}
		}
	}()
	err = send(ctx, c, x, ns, l, t)
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ferr := c.Flush(fctx); err == nil {
		err = ferr
	}
	close(done)
	if serr := <-saved; err == nil {
		err = serr
	}
	if serr := save(); err == nil {
		err = serr
	}
	return err
}

// send reads x and enqueues its records past the checkpoint.
func send(ctx context.Context, c *pulsestream.Client, x *input, ns string, l *ledger, t *Totals) error {
	rd, err := newReader(x.r)
	if err != nil {
		return fmt.Errorf("%s: %w", x.name, err)
	}
	t.input.Store(&progressInput{name: x.name, read: rd.count, size: x.size})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := rd.read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", x.name, err)
		}
		if rec.no <= x.cp.Records {
			t.Skipped.Add(1)
			continue
		}
		t.Read.Add(1)
		if rec.blank {
			if err := l.final(rec.no, fin{}); err != nil {
				return err
			}
			continue
		}
		m := &meta{l: l, no: rec.no, raw: rec.raw}
		_, err = c.EnqueueRaw(ctx, pulsestream.RawEvent{JSON: rec.raw, DefaultID: stableID(ns, rec.no, rec.raw), Meta: m})
		if errors.Is(err, pulsestream.ErrInvalidEvent) {
			t.Rejected.Add(1)
			rej := &rejection{Line: rec.no, Code: "invalid_json", Message: err.Error(), Raw: string(rec.raw)}
			if err := l.final(rec.no, fin{status: pulsestream.Rejected, rej: rej}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}
