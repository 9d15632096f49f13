package record

import (
	"bytes"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Shared decodes each record once for the consumers of one process that
// read the same topic (one per read model, each with its own consumer
// group, fetches and committed offsets). The first consumer to reach a
// record decodes it; the others take the decoded Item (or the error).
//
// A decoded record is handed out only against a record with the same
// topic, partition and offset AND the same key, value, headers and
// timestamp: Decode reads nothing else, so the Item is exactly what
// decoding the record again would give, whatever happened to the topic in
// between. Items are shared, not copied: a sink must not change an Item or
// what it points to.
//
// Memory is bounded: at most Limit decoded records wait for the other
// consumers; beyond that the oldest are dropped and a consumer that comes
// later decodes them itself (a sink far behind, e.g. its store down, only
// loses the saving).
type Shared struct {
	readers int // consumers sharing the decodes
	limit   int

	mu      sync.Mutex
	entries map[pos]*entry
	fifo    []pos // insertion order, for the bound; may hold taken positions
}

// pos is where a record stands; its topic is compared with its content
// (a consumer reads one topic).
type pos struct {
	partition int32
	offset    int64
}

type entry struct {
	rec  *kgo.Record // the record decoded (its bytes are compared)
	it   Item
	err  error
	left int           // consumers that have not taken it yet
	done chan struct{} // closed once it and err are set (one per DecodeBatch call)
}

// NewShared returns a Shared for readers consumers holding at most limit
// decoded records for the others. With one reader it only decodes.
func NewShared(readers, limit int) *Shared {
	return &Shared{readers: readers, limit: max(limit, 1), entries: map[pos]*entry{}}
}

// Decoded is one record of a batch after DecodeBatch.
type Decoded struct {
	Rec  *kgo.Record
	Item Item
	Err  error // a *schemas.DecodeError: the record goes to the DLQ
	// Taken: decoded by another consumer, not by this call.
	Taken bool
}

// DecodeBatch decodes recs (Decode), taking what another consumer already
// decoded. Records it decodes itself are published before it waits for
// records another consumer is decoding at the same moment, so two consumers
// never wait on each other.
func (s *Shared) DecodeBatch(recs []*kgo.Record) []Decoded {
	out := make([]Decoded, len(recs))
	if s == nil || s.readers <= 1 {
		for i, r := range recs {
			out[i] = Decoded{Rec: r}
			out[i].Item, out[i].Err = Decode(r)
		}
		return out
	}
	mine := make([]entry, len(recs))    // entries this call decodes (Rec set)
	theirs := make([]*entry, len(recs)) // entries another consumer decodes
	done := make(chan struct{})
	s.mu.Lock()
	for i, r := range recs {
		p := pos{r.Partition, r.Offset}
		if e, ok := s.entries[p]; ok && sameRecord(e.rec, r) {
			theirs[i] = e
			if e.left--; e.left == 0 {
				delete(s.entries, p)
			}
			continue
		}
		e := &mine[i]
		*e = entry{rec: r, left: s.readers - 1, done: done}
		s.entries[p] = e // replaces a different record at p (a recreated topic)
		s.fifo = append(s.fifo, p)
	}
	s.evict()
	s.mu.Unlock()
	for i := range mine {
		if e := &mine[i]; e.rec != nil {
			e.it, e.err = Decode(recs[i])
			out[i] = Decoded{Rec: recs[i], Item: e.it, Err: e.err}
		}
	}
	close(done) // before waiting for others: two consumers never wait on each other
	for i, e := range theirs {
		if e != nil {
			<-e.done
			out[i] = Decoded{Rec: recs[i], Item: e.it, Err: e.err, Taken: true}
		}
	}
	return out
}

// evict drops the oldest entries beyond the limit (s.mu held).
func (s *Shared) evict() {
	for len(s.entries) > s.limit && len(s.fifo) > 0 {
		p := s.fifo[0]
		s.fifo = s.fifo[1:]
		delete(s.entries, p)
	}
	if len(s.fifo) > 2*s.limit { // compact positions already taken
		live := s.fifo[:0]
		for _, p := range s.fifo {
			if _, ok := s.entries[p]; ok {
				live = append(live, p)
			}
		}
		s.fifo = append([]pos(nil), live...)
	}
}

// Pending is how many decoded records wait for another consumer.
func (s *Shared) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// sameRecord reports whether b has a's content: everything Decode reads.
func sameRecord(a, b *kgo.Record) bool {
	if a.Topic != b.Topic || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || !a.Timestamp.Equal(b.Timestamp) ||
		a.Timestamp.Location() != b.Timestamp.Location() || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}
