package observe

import (
	"sync"
	"sync/atomic"
)

// maxChildren bounds what a Children remembers: label values a client can
// choose (an HTTP method) must not grow it without end. Past it, lookups go
// to the vector each time, as they would without the cache.
const maxChildren = 1024

// Children remembers the children of a Prometheus metric vector by key, so
// a hot path finds a child with one map read instead of prometheus's
// WithLabelValues (which hashes and UTF-8-checks every label value and takes
// the vector's lock on every call). get resolves a key the first time.
type Children[K comparable, M any] struct {
	get func(K) M
	m   sync.Map // K -> M
	n   atomic.Int64
}

// NewChildren returns a cache resolving keys with get (for example
// func(k key) prometheus.Counter { return vec.WithLabelValues(k.a, k.b) }).
func NewChildren[K comparable, M any](get func(K) M) *Children[K, M] {
	return &Children[K, M]{get: get}
}

// Get returns the child of k.
func (c *Children[K, M]) Get(k K) M {
	if v, ok := c.m.Load(k); ok {
		return v.(M)
	}
	child := c.get(k)
	if c.n.Load() < maxChildren {
		if _, loaded := c.m.LoadOrStore(k, child); !loaded {
			c.n.Add(1)
		}
	}
	return child
}
