package bench

import "fmt"

// targets compares a report with the performance targets of issue 9.
func targets(r *Report) []Target {
	ph := map[string]Phase{}
	for _, p := range r.Phases {
		ph[p.Name] = p
	}
	e2e := ph["e2e"]
	proj := min(ph["project-postgres"].EventsPerSec, ph["project-clickhouse"].EventsPerSec)
	lag := max(r.Visibility.Postgres.P99, r.Visibility.ClickHouse.P99)
	single := ph[fmt.Sprintf("gateway-single%v", r.Config["single_concurrency"])]
	return append([]Target{
		{"batch ingestion (batch1000) events/s", ">= 100000", ph["gateway-batch1000"].EventsPerSec, ph["gateway-batch1000"].EventsPerSec >= 100000},
		{"batch1000 / raw Kafka", ">= 0.6", r.Ratios["batch1000"], r.Ratios["batch1000"] >= 0.6},
		{"single-event requests/s", ">= 10000", single.RequestsPerS, single.RequestsPerS >= 10000},
		{"single-event p99 ms", "< 25", single.Latency.P99, single.Latency.P99 < 25},
		{"projection events/s into both stores", ">= 50000", proj, proj >= 50000},
		{"e2e visibility p99 ms at the offered rate", "< 2000", lag, lag < 2000 && e2e.Missed == 0},
		{"gateway peak RSS MiB", "< 256", float64(r.PeakRSS["gateway"]) / (1 << 20), r.PeakRSS["gateway"] < 256<<20},
		{"lost or doubled events", "0", boolf(!r.Verification.OK), r.Verification.OK},
	}, append(gatewayTargets(r, ph), schemaTargets(ph)...)...)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
