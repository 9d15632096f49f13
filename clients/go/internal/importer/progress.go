package importer

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressInput is what the progress report needs of the input being read.
type progressInput struct {
	name string
	read *countingReader
	size int64 // 0: unknown (stdin)
}

// report shows progress until the returned function is called: a bar with
// the byte position and ETA of a file (or a spinner for stdin) described by
// events/s and the outcomes so far, or without a terminal a line every
// LogEvery. The summary line is printed at the end either way.
func (o Options) report(t *Totals) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	start := time.Now()
	line := func() string {
		done := t.Accepted.Load() + t.Duplicate.Load() + t.Rejected.Load() + t.Failed.Load()
		rate := float64(done) / max(time.Since(start).Seconds(), 1e-3)
		return fmt.Sprintf("%.0f events/s, accepted %d, duplicate %d, rejected %d, failed %d", rate,
			t.Accepted.Load(), t.Duplicate.Load(), t.Rejected.Load(), t.Failed.Load())
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		every := o.LogEvery
		if o.ProgressBar {
			every = 200 * time.Millisecond
		} else if every <= 0 {
			every = 5 * time.Second
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		var bar *progressbar.ProgressBar
		var barOf *progressInput
		for {
			select {
			case <-quit:
				if bar != nil {
					_ = bar.Finish()
				}
				fmt.Fprintf(o.Progress, "\n%s in %s\n", line(), time.Since(start).Round(100*time.Millisecond))
				return
			case <-tick.C:
			}
			in := t.input.Load()
			if in == nil {
				continue
			}
			if !o.ProgressBar {
				eta := ""
				if n := in.read.n.Load(); in.size > 0 && n > 0 {
					eta = fmt.Sprintf(", %s: %.0f%%, ETA %s", in.name, 100*float64(n)/float64(in.size),
						(time.Duration(float64(time.Since(start)) * float64(in.size-n) / float64(n))).Round(time.Second))
				}
				fmt.Fprintln(o.Progress, line()+eta)
				continue
			}
			if barOf != in {
				if bar != nil {
					_ = bar.Finish()
				}
				max := in.size
				if max == 0 {
					max = -1
				}
				bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(o.Progress), progressbar.OptionShowBytes(true),
					progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionSetDescription(in.name), progressbar.OptionShowDescriptionAtLineEnd())
				barOf = in
			}
			bar.Describe(in.name + ": " + line())
			_ = bar.Set64(in.read.n.Load())
		}
	}()
	return func() { close(quit); <-finished }
}
