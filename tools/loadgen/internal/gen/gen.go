// Package gen makes the load generator's events. Every event is a pure
// function of its sequence number (id, tenant, attributes and data), so the
// verifier can rebuild any sent event from the id it finds in a read model,
// and a repeat of a sequence number is a true duplicate (same content).
//
// Sequence numbers interleave tenants: seq % len(Tenants) is the tenant
// index, so one request carries the events of one tenant (one API key) and
// the tenant of a stored row can be checked from its id alone.
package gen

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config fixes the events of one load phase.
type Config struct {
	// Prefix starts every event id: "<Prefix>-<seq>".
	Prefix string
	// Tenants receive the events round robin by sequence number.
	Tenants []string
	// DataBytes is the size of each event's data JSON (at least the size of
	// its fixed members, about 70 bytes).
	DataBytes int
	// Base is the event time of seq 0; seq n is (n mod 10^8) ms older.
	Base time.Time
	// Order makes the data a realistic order (RichData) instead of Data:
	// what the event-schema phases validate.
	Order bool
}

// Event is one generated CloudEvent.
type Event struct {
	Seq     uint64
	Tenant  string
	ID      string
	Type    string
	Source  string
	Subject string
	Time    time.Time
	Data    []byte
}

var types = [...]string{"order.created", "order.paid", "page.viewed", "cart.updated", "user.signed_in"}

// Source is the source attribute of every generated event.
const Source = "/loadgen"

// Event returns the event of seq.
func (c Config) Event(seq uint64) Event {
	return Event{
		Seq:     seq,
		Tenant:  c.Tenants[seq%uint64(len(c.Tenants))],
		ID:      c.ID(seq),
		Type:    types[seq%uint64(len(types))],
		Source:  Source,
		Subject: "user-" + strconv.FormatUint(seq%1000, 10),
		Time:    c.Base.Add(-time.Duration(seq%100_000_000) * time.Millisecond).UTC(),
		Data:    c.data(seq),
	}
}

func (c Config) data(seq uint64) []byte {
	if c.Order {
		return OrderData(seq, c.DataBytes)
	}
	return Data(seq, c.DataBytes)
}

// ID is the external id of seq.
func (c Config) ID(seq uint64) string { return c.Prefix + "-" + strconv.FormatUint(seq, 10) }

// ParseID returns the sequence number of an id made by ID.
func (c Config) ParseID(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, c.Prefix+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// TenantIndex is the index in Tenants of seq's tenant.
func (c Config) TenantIndex(seq uint64) int { return int(seq % uint64(len(c.Tenants))) }

const padAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Data is the data JSON of seq, exactly size bytes long when size exceeds
// its fixed members (otherwise just the fixed members).
func Data(seq uint64, size int) []byte {
	b := make([]byte, 0, max(size, 96))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"user":"u-`...)
	b = strconv.AppendUint(b, seq%1000, 10)
	b = append(b, `","amount":`...)
	b = strconv.AppendUint(b, seq%10000, 10)
	b = append(b, `,"country":"DE"`...)
	return pad(b, seq, size)
}

// pad closes the object b with a "pad" member making it size bytes long,
// when it fits.
func pad(b []byte, seq uint64, size int) []byte {
	const padOpen, padClose = `,"pad":"`, `"}`
	n := size - len(b) - len(padOpen) - len(padClose)
	if n < 0 {
		return append(b, '}')
	}
	b = append(b, padOpen...)
	for i := range n {
		b = append(b, padAlphabet[(seq+uint64(i))%uint64(len(padAlphabet))])
	}
	return append(b, padClose...)
}

// The enums of OrderData.
var (
	currencies = [...]string{"EUR", "USD", "GBP"}
	statuses   = [...]string{"new", "paid", "shipped"}
	tiers      = [...]string{"gold", "silver", "bronze"}
)

// OrderData is Data with the members of an order: enums (currency,
// status) and a nested customer object (about 150 bytes before padding).
func OrderData(seq uint64, size int) []byte {
	b := make([]byte, 0, max(size, 192))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"user":"u-`...)
	b = strconv.AppendUint(b, seq%1000, 10)
	b = append(b, `","amount":`...)
	b = strconv.AppendUint(b, seq%10000, 10)
	b = append(b, `,"country":"DE","currency":"`...)
	b = append(b, currencies[seq%uint64(len(currencies))]...)
	b = append(b, `","status":"`...)
	b = append(b, statuses[seq%uint64(len(statuses))]...)
	b = append(b, `","customer":{"id":"c-`...)
	b = strconv.AppendUint(b, seq%5000, 10)
	b = append(b, `","tier":"`...)
	b = append(b, tiers[seq%uint64(len(tiers))]...)
	b = append(b, `"}`...)
	return pad(b, seq, size)
}

// AppendJSON appends e as a CloudEvents structured-mode JSON object.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, e.ID...)
	b = append(b, `","type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","source":"`...)
	b = append(b, e.Source...)
	b = append(b, `","subject":"`...)
	b = append(b, e.Subject...)
	b = append(b, `","time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	b = append(b, e.Data...)
	return append(b, '}')
}

// Counter hands out fresh sequence numbers per tenant: the n-th number of
// tenant t is n*tenants + t + base.
type Counter struct {
	base uint64
	next []atomic.Uint64
}

// NewCounter returns a counter over tenants tenants starting at base
// (a multiple of tenants keeps seq % tenants the tenant index).
func NewCounter(base uint64, tenants int) *Counter {
	return &Counter{base: base, next: make([]atomic.Uint64, tenants)}
}

// Next returns a fresh sequence number of tenant t.
func (c *Counter) Next(t int) uint64 {
	n := c.next[t].Add(1) - 1
	return c.base + n*uint64(len(c.next)) + uint64(t)
}

// Picker chooses, for one worker, between a fresh event and a repeat of an
// event the worker already had accepted, with probability DupRatio.
type Picker struct {
	counter  *Counter
	tenant   int
	dupRatio float64
	rng      *rand.Rand
	ring     []uint64
	pos      int
	used     map[uint64]bool // repeats of the current request
}

// ringSize is how many recently accepted events a worker may repeat.
const ringSize = 1024

// NewPicker returns the picker of one worker sending tenant t's events.
func NewPicker(c *Counter, tenant int, dupRatio float64, seed uint64) *Picker {
	return &Picker{counter: c, tenant: tenant, dupRatio: dupRatio, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Begin starts a new request: a request never repeats an id twice (the
// gateway would reject the second copy as duplicate_in_request; a retry
// repeats an earlier request, not an event within one).
func (p *Picker) Begin() { clear(p.used) }

// Next returns the next sequence number to send and whether it repeats one.
func (p *Picker) Next() (seq uint64, dup bool) {
	if len(p.ring) > 0 && p.rng.Float64() < p.dupRatio {
		seq := p.ring[p.rng.IntN(len(p.ring))]
		if !p.used[seq] {
			if p.used == nil {
				p.used = map[uint64]bool{}
			}
			p.used[seq] = true
			return seq, true
		}
	}
	return p.counter.Next(p.tenant), false
}

// Accepted remembers seq as a candidate for later repeats.
func (p *Picker) Accepted(seq uint64) {
	if len(p.ring) < ringSize {
		p.ring = append(p.ring, seq)
		return
	}
	p.ring[p.pos] = seq
	p.pos = (p.pos + 1) % ringSize
}
