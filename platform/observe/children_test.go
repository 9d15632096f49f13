package observe

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type testKey struct{ route, method string }

func TestChildrenCountOnTheVectorsChildren(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_total", Help: "t"}, []string{"route", "method"})
	c := NewChildren(func(k testKey) prometheus.Counter { return vec.WithLabelValues(k.route, k.method) })
	c.Get(testKey{"/a", "GET"}).Inc()
	c.Get(testKey{"/a", "GET"}).Inc()
	c.Get(testKey{"/a", "POST"}).Add(3)
	if got := testutil.ToFloat64(vec.WithLabelValues("/a", "GET")); got != 2 {
		t.Errorf("/a GET = %v, want 2", got)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("/a", "POST")); got != 3 {
		t.Errorf("/a POST = %v, want 3", got)
	}
}

func TestChildrenRemembersAtMostItsBound(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_total", Help: "t"}, []string{"route", "method"})
	c := NewChildren(func(k testKey) prometheus.Counter { return vec.WithLabelValues(k.route, k.method) })
	for i := range maxChildren + 10 {
		c.Get(testKey{"/a", fmt.Sprint("M", i)}).Inc()
	}
	c.Get(testKey{"/a", fmt.Sprint("M", maxChildren+5)}).Inc() // past the bound: still counted
	if n := c.n.Load(); n != maxChildren {
		t.Errorf("remembered %d children, want %d", n, maxChildren)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("/a", fmt.Sprint("M", maxChildren+5))); got != 2 {
		t.Errorf("a key past the bound counted %v, want 2", got)
	}
}

// BenchmarkCounterLookup compares the vector's own lookup with the cache's
// (three label values, as the HTTP request counter has).
func BenchmarkCounterLookup(b *testing.B) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_total", Help: "t"}, []string{"route", "method", "status"})
	b.Run("WithLabelValues", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vec.WithLabelValues("/v1/events", "POST", "200").Inc()
		}
	})
	type k3 struct {
		route, method string
		status        int
	}
	c := NewChildren(func(k k3) prometheus.Counter { return vec.WithLabelValues(k.route, k.method, fmt.Sprint(k.status)) })
	b.Run("Children", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Get(k3{"/v1/events", "POST", 200}).Inc()
		}
	})
}
