package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/stats"
)

// Phase is the result of one load phase.
type Phase struct {
	Name          string             `json:"name"`
	Description   string             `json:"description"`
	Events        int64              `json:"events"` // events stored or answered (accepted + duplicate)
	Accepted      int64              `json:"accepted"`
	Duplicate     int64              `json:"duplicate"`
	Rejected      int64              `json:"rejected"`
	Failed        int64              `json:"failed"`
	Missed        int64              `json:"missed_offered,omitempty"`
	Requests      int64              `json:"requests,omitempty"`
	Seconds       float64            `json:"seconds"`
	EventsPerSec  float64            `json:"events_per_sec"`
	RequestsPerS  float64            `json:"requests_per_sec,omitempty"`
	DataMBPerSec  float64            `json:"data_mb_per_sec"`
	WireMBPerSec  float64            `json:"wire_mb_per_sec,omitempty"`
	Latency       stats.Latency      `json:"latency"`
	CPUPerMillion map[string]float64 `json:"cpu_seconds_per_million_events"`
	Status        map[int]int64      `json:"http_status,omitempty"`
	Errors        []string           `json:"errors,omitempty"`
}

// Lag is a visibility lag summary per read model.
type Lag struct {
	Postgres   stats.Latency `json:"postgres"`
	ClickHouse stats.Latency `json:"clickhouse"`
	Method     string        `json:"method"`
}

// Verification is what the final check found.
type Verification struct {
	Expected          int      `json:"expected_distinct_accepted"`
	Uncertain         int      `json:"uncertain_failed_requests"`
	PostgresRows      int      `json:"postgres_rows"`
	ClickHouseRows    int      `json:"clickhouse_rows_final"`
	SamplesPostgres   int      `json:"samples_checked_postgres"`
	SamplesClickHouse int      `json:"samples_checked_clickhouse"`
	SamplesQueryAPI   int      `json:"samples_checked_query_api"`
	OK                bool     `json:"ok"`
	Problems          []string `json:"problems,omitempty"`
}

// Target is one performance target of issue 9 and whether the run met it.
type Target struct {
	Name     string  `json:"name"`
	Want     string  `json:"want"`
	Measured float64 `json:"measured"`
	Met      bool    `json:"met"`
}

// Report is the JSON document of a run.
type Report struct {
	RunID      string             `json:"run_id"`
	StartedAt  time.Time          `json:"started_at"`
	Seconds    float64            `json:"seconds"`
	Machine    map[string]string  `json:"machine"`
	Config     map[string]any     `json:"config"`
	Phases     []Phase            `json:"phases"`
	Ratios     map[string]float64 `json:"gateway_to_raw_kafka_ratio"`
	Visibility Lag                `json:"e2e_visibility_lag"`
	// VisibilityHigh is the lag of the second end-to-end phase (e2e-rate-high).
	VisibilityHigh *Lag              `json:"e2e_high_visibility_lag,omitempty"`
	PeakRSS        map[string]int64  `json:"peak_rss_bytes"`
	Verification   Verification      `json:"verification"`
	Targets        []Target          `json:"targets"`
	Profiles       map[string]string `json:"perf_profiles,omitempty"`
	Path           string            `json:"-"`
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func machine() map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(), "goos": runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	return m
}

// PrintTable writes the human-readable summary of r.
func (r *Report) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tevents/s\treq/s\tdata MB/s\tp50 ms\tp99 ms\tp99.9 ms\taccepted\tdup\trejected\tfailed\tnot sent\t")
	for _, p := range r.Phases {
		lat := "-\t-\t-"
		if p.Latency.Count > 0 {
			lat = fmt.Sprintf("%.2f\t%.2f\t%.2f", p.Latency.P50, p.Latency.P99, p.Latency.P999)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1f\t%s\t%d\t%d\t%d\t%d\t%d\t\n", p.Name, p.EventsPerSec, p.RequestsPerS, p.DataMBPerSec,
			lat, p.Accepted, p.Duplicate, p.Rejected, p.Failed, p.Missed)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nCPU seconds per million events:")
	names := map[string]bool{}
	for _, p := range r.Phases {
		for n := range p.CPUPerMillion {
			names[n] = true
		}
	}
	cols := make([]string, 0, len(names))
	for n := range names {
		cols = append(cols, n)
	}
	sort.Strings(cols)
	fmt.Fprintf(tw, "phase\t%s\t\n", strings.Join(cols, "\t"))
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s", p.Name)
		for _, c := range cols {
			if v, ok := p.CPUPerMillion[c]; ok {
				fmt.Fprintf(tw, "\t%.1f", v)
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		fmt.Fprintln(tw, "\t")
	}
	tw.Flush()
	r.printGatewayCPU(w)
	fmt.Fprintf(w, "\ngateway/raw Kafka throughput: batch100 %.2f, batch1000 %.2f\n", r.Ratios["batch100"], r.Ratios["batch1000"])
	fmt.Fprintf(w, "end-to-end visibility lag (%s): PostgreSQL p50 %.0f ms p99 %.0f ms; ClickHouse p50 %.0f ms p99 %.0f ms\n",
		r.Visibility.Method, r.Visibility.Postgres.P50, r.Visibility.Postgres.P99, r.Visibility.ClickHouse.P50, r.Visibility.ClickHouse.P99)
	if h := r.VisibilityHigh; h != nil {
		fmt.Fprintf(w, "end-to-end visibility lag, e2e-high: PostgreSQL p50 %.0f ms p99 %.0f ms; ClickHouse p50 %.0f ms p99 %.0f ms\n",
			h.Postgres.P50, h.Postgres.P99, h.ClickHouse.P50, h.ClickHouse.P99)
	}
	fmt.Fprint(w, "peak RSS:")
	for _, n := range []string{"gateway", "projector", "query", "loadgen"} {
		fmt.Fprintf(w, " %s %.0f MiB", n, float64(r.PeakRSS[n])/(1<<20))
	}
	fmt.Fprintln(w)
	v := r.Verification
	fmt.Fprintf(w, "verification: expected %d distinct accepted (+%d uncertain), PostgreSQL %d rows, ClickHouse %d raw rows, samples pg/ch/api %d/%d/%d: ",
		v.Expected, v.Uncertain, v.PostgresRows, v.ClickHouseRows, v.SamplesPostgres, v.SamplesClickHouse, v.SamplesQueryAPI)
	if v.OK {
		fmt.Fprintln(w, "OK")
	} else {
		fmt.Fprintf(w, "FAILED\n  %s\n", strings.Join(v.Problems, "\n  "))
	}
	fmt.Fprintln(w, "\ntargets (issue 9, then issues 15 and 14):")
	for _, t := range r.Targets {
		mark := "met"
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.2f\t%s\t\n", t.Name, t.Want, t.Measured, mark)
	}
	tw.Flush()
}
