package gen

import (
	"encoding/json"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{Prefix: "run1", Tenants: []string{"a", "b", "c"}, DataBytes: 300, Base: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
}

func TestDataHasExactlyTheConfiguredSizeAndIsValidJSON(t *testing.T) {
	for _, size := range []int{100, 300, 1000, 4096} {
		for _, seq := range []uint64{0, 7, 123456789, 1<<40 + 3} {
			d := Data(seq, size)
			if len(d) != size {
				t.Errorf("Data(%d, %d): %d bytes", seq, size, len(d))
			}
			if !json.Valid(d) {
				t.Errorf("Data(%d, %d) is not JSON: %s", seq, size, d)
			}
		}
	}
	if d := Data(5, 10); !json.Valid(d) {
		t.Errorf("a size below the fixed members still gives JSON: %s", d)
	}
}

func TestEventIsAFunctionOfItsSequenceNumber(t *testing.T) {
	c := testConfig()
	a, b := c.Event(42), c.Event(42)
	if string(a.AppendJSON(nil)) != string(b.AppendJSON(nil)) {
		t.Fatal("the same seq gave two different events")
	}
	if string(c.Event(43).Data) == string(a.Data) {
		t.Fatal("two sequence numbers gave the same data")
	}
	if a.Tenant != c.Tenants[c.TenantIndex(42)] {
		t.Fatalf("tenant %s, TenantIndex says %s", a.Tenant, c.Tenants[c.TenantIndex(42)])
	}
	var ce map[string]any
	if err := json.Unmarshal(a.AppendJSON(nil), &ce); err != nil {
		t.Fatalf("event JSON: %v", err)
	}
	if ce["id"] != "run1-42" || ce["specversion"] != "1.0" || ce["type"] == "" {
		t.Fatalf("event attributes: %v", ce)
	}
	if seq, ok := c.ParseID(a.ID); !ok || seq != 42 {
		t.Fatalf("ParseID(%q) = %d, %v", a.ID, seq, ok)
	}
	if _, ok := c.ParseID("other-42"); ok {
		t.Fatal("ParseID accepted another prefix")
	}
}

func TestCounterKeepsEachTenantsNumbersOnItsTenant(t *testing.T) {
	c := testConfig()
	ctr := NewCounter(3_000, len(c.Tenants))
	seen := map[uint64]bool{}
	for i := range 300 {
		tenant := i % 3
		seq := ctr.Next(tenant)
		if seen[seq] {
			t.Fatalf("seq %d handed out twice", seq)
		}
		seen[seq] = true
		if c.TenantIndex(seq) != tenant {
			t.Fatalf("seq %d of tenant %d maps to tenant %d", seq, tenant, c.TenantIndex(seq))
		}
	}
}

func TestPickerRepeatsAcceptedEventsAtTheConfiguredRatio(t *testing.T) {
	ctr := NewCounter(0, 1)
	p := NewPicker(ctr, 0, 0.2, 1)
	accepted := map[uint64]bool{}
	dups := 0
	const n = 20_000
	for i := range n {
		if i%100 == 0 {
			p.Begin() // requests of 100 events
		}
		seq, dup := p.Next()
		if dup {
			dups++
			if !accepted[seq] {
				t.Fatalf("repeat of %d, which was never accepted", seq)
			}
			continue
		}
		accepted[seq] = true
		p.Accepted(seq)
	}
	if r := float64(dups) / n; r < 0.18 || r > 0.22 {
		t.Fatalf("repeat ratio %.3f, want about 0.2", r)
	}
	small := NewPicker(NewCounter(1000, 1), 0, 0.9, 1) // fresh numbers from 1000 on
	small.Accepted(0)
	small.Accepted(1)
	small.Begin()
	inRequest := map[uint64]bool{}
	for range 100 {
		seq, _ := small.Next()
		if inRequest[seq] {
			t.Fatalf("seq %d twice in one request", seq)
		}
		inRequest[seq] = true
	}
	none := NewPicker(NewCounter(0, 1), 0, 0, 1)
	none.Accepted(0)
	for range 1000 {
		if _, dup := none.Next(); dup {
			t.Fatal("dup ratio 0 repeated an event")
		}
	}
}

func TestOrderDataHasExactlyTheConfiguredSizeAndIsAValidOrder(t *testing.T) {
	for _, size := range []int{300, 1000} {
		for _, seq := range []uint64{0, 7, 123456789, 1<<40 + 3} {
			d := OrderData(seq, size)
			var o struct {
				Currency string `json:"currency"`
				Customer struct {
					ID, Tier string
				} `json:"customer"`
			}
			if len(d) != size || json.Unmarshal(d, &o) != nil || o.Currency == "" || o.Customer.Tier == "" {
				t.Errorf("OrderData(%d, %d): %d bytes: %s", seq, size, len(d), d)
			}
		}
	}
	c := testConfig()
	c.Order = true
	if e := c.Event(42); string(e.Data) != string(OrderData(42, c.DataBytes)) {
		t.Fatalf("Order config: data %s", e.Data)
	}
}
