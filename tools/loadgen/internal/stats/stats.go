// Package stats turns latency samples into percentiles and counts
// distinct sequence numbers, for the load generator's report.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float rounding (99.9/100*1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Latency is the summary of a set of latencies, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize sorts samples in place and summarizes them.
func Summarize(samples []time.Duration) Latency {
	slices.Sort(samples)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	l := Latency{Count: len(samples), P50: ms(Percentile(samples, 50)), P99: ms(Percentile(samples, 99)), P999: ms(Percentile(samples, 99.9))}
	if len(samples) > 0 {
		l.Max = ms(samples[len(samples)-1])
	}
	return l
}

// Set is a set of sequence numbers relative to a base, as a bitset.
type Set struct {
	base uint64
	bits []uint64
	n    int
}

// NewSet returns an empty set of numbers >= base.
func NewSet(base uint64) *Set { return &Set{base: base} }

// Add adds seq and reports whether it was new; numbers below the base are ignored.
func (s *Set) Add(seq uint64) bool {
	if seq < s.base {
		return false
	}
	i := seq - s.base
	w := int(i / 64)
	if w >= len(s.bits) {
		s.bits = slices.Grow(s.bits, w+1-len(s.bits))[:w+1]
	}
	m := uint64(1) << (i % 64)
	if s.bits[w]&m != 0 {
		return false
	}
	s.bits[w] |= m
	s.n++
	return true
}

// Has reports whether seq is in the set.
func (s *Set) Has(seq uint64) bool {
	if seq < s.base {
		return false
	}
	i := seq - s.base
	w := int(i / 64)
	return w < len(s.bits) && s.bits[w]&(uint64(1)<<(i%64)) != 0
}

// Len is the number of members.
func (s *Set) Len() int { return s.n }

// Each calls f for every member in increasing order.
func (s *Set) Each(f func(seq uint64)) {
	for w, word := range s.bits {
		for b := 0; word != 0; b++ {
			if word&1 != 0 {
				f(s.base + uint64(w)*64 + uint64(b))
			}
			word >>= 1
		}
	}
}
