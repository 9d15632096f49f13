// Package observe serves the operational endpoints of every service:
// /livez (the process runs), /readyz (every dependency answers and the process
// is not shutting down) and /metrics (Prometheus, from the registry created in
// main and passed down).
package observe

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Health tracks readiness: the named dependency checks and a shutdown flag.
type Health struct {
	mu           sync.RWMutex
	checks       map[string]Check
	shuttingDown atomic.Bool
	timeout      time.Duration
	ready        *prometheus.GaugeVec
}

// NewHealth returns a Health whose checks each get timeout to answer.
func NewHealth(reg prometheus.Registerer, timeout time.Duration) *Health {
	return &Health{
		checks:  map[string]Check{},
		timeout: timeout,
		ready: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Name: "pulsestream_dependency_up",
			Help: "1 when the named dependency answered the last readiness check.",
		}, []string{"dependency"}),
	}
}

// Add registers a dependency check under name.
func (h *Health) Add(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
}

// ShutDown makes /readyz fail from now on, so load balancers stop routing
// here before the servers drain.
func (h *Health) ShutDown() { h.shuttingDown.Store(true) }

// Status runs every check and returns the failures by dependency name.
func (h *Health) Status(ctx context.Context) map[string]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	failed := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			err := check(ctx)
			up := 1.0
			if err != nil {
				up = 0
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
			h.ready.WithLabelValues(name).Set(up)
		}()
	}
	wg.Wait()
	if h.shuttingDown.Load() {
		failed["shutdown"] = "shutting down"
	}
	return failed
}

// Handler serves /livez, /readyz and /metrics for the registry gatherer.
func Handler(h *Health, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		failed := h.Status(r.Context())
		if len(failed) == 0 {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		names := make([]string, 0, len(failed))
		for n := range failed {
			names = append(names, n)
		}
		sort.Strings(names)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failing": names, "errors": failed})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
