package stats

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {99.9, 999 * time.Millisecond}, {100, time.Second}, {0.01, time.Millisecond}} {
		if got := Percentile(s, c.p); got != c.want {
			t.Errorf("p%g = %s, want %s", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("no samples should give 0")
	}
	if got := Percentile([]time.Duration{7}, 99.9); got != 7 {
		t.Errorf("one sample: %s", got)
	}
}

func TestSummarizeSortsAndReportsMilliseconds(t *testing.T) {
	l := Summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond})
	if l.Count != 4 || l.P50 != 1.5 || l.Max != 3 || l.P99 != 3 {
		t.Fatalf("summary %+v", l)
	}
}

func TestSetCountsDistinctMembers(t *testing.T) {
	s := NewSet(1000)
	for _, v := range []uint64{1000, 1063, 1064, 5000, 1063, 999} {
		s.Add(v)
	}
	if s.Len() != 4 {
		t.Fatalf("len %d, want 4", s.Len())
	}
	if !s.Has(1064) || s.Has(1001) || s.Has(999) {
		t.Fatal("membership wrong")
	}
	var got []uint64
	s.Each(func(v uint64) { got = append(got, v) })
	if len(got) != 4 || got[0] != 1000 || got[3] != 5000 {
		t.Fatalf("Each gave %v", got)
	}
}
