package chsink

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-faster/city"
)

// Keys known to be absent are not looked up.
//
// The existence lookup costs the engine per granule it reads, not per key
// it asks for: a batch of new keys, spread over the key space, reads the key
// columns of about every part (docs/benchmarks.md, "Projection, third
// pass"). In a backlog nearly every key is new. So the sink keeps known: the
// 64-bit hash of every key the events table held when the sink last rebuilt
// it, plus every key of every batch the sink has written (or tried to)
// since. A key whose hash is not in the set is not stored, and its state is
// the zero state without a query; a key whose hash is in the set (stored,
// or a collision) is looked up as before. The set can only err towards
// asking.
//
// Why no stored key is ever missing from it:
//
//   - It is rebuilt from the whole table (every partition, so keys stored
//     under another partition count too) before the first batch after this
//     member's partitions change (consumer.Reassignable; the consumer calls
//     it between batches, never during a Write): what other members wrote
//     while they held a partition is read then.
//   - While this member holds its partitions, it is the only writer of their
//     keys (one writer per partition: the assumption the lookup itself rests
//     on, see the package comment; a key's records are all in one partition).
//   - The sink adds a batch's keys when it decides what to look up, before
//     its INSERT is sent, so an INSERT that failed on the client but landed
//     in the table is still known.
//
// Rows that leave the table (retention, Truncate, erasure) only make the
// set ask about keys that are gone, which the lookup answers.
//
// Memory: a map entry per distinct key (about 10-20 bytes); a table holding
// more than KnownMax rows is not mirrored, and every key is looked up.
type known struct {
	mu     sync.Mutex
	valid  bool // hashes mirrors the table (rebuilt since the last Reassigned)
	hashes map[uint64]struct{}
}

// keyHash is ClickHouse's cityHash64(concat(tenant_id, '/', external_id)):
// the record key's bytes (schemas.Key).
func keyHash(k key) uint64 {
	var buf [128]byte
	b := append(append(append(buf[:0], k.tenant...), '/'), k.id...)
	return city.CH64(b)
}

// knownQuery reads the hash of every stored row's key (the map collapses a
// key's rows).
const knownQuery = "SELECT cityHash64(concat(tenant_id, '/', external_id)) FROM events LIMIT %d"

// Reassigned implements consumer.Reassignable: the set is rebuilt before the
// next lookup, and the blocks kept to be sent again are dropped (resend.go).
func (s *Sink) Reassigned() {
	s.dropPending()
	s.known.mu.Lock()
	defer s.known.mu.Unlock()
	s.known.valid, s.known.hashes = false, nil
}

// toAsk returns the keys of bk that may be stored, and adds the others to
// the set: this batch is about to store them (its first event or tombstone
// of a key not stored is a row of the INSERT), and a key added for a write
// that then fails, or whose INSERT failed on the client but landed, only
// makes a later batch ask. It returns every key when the set cannot be kept
// (more than KnownMax rows, or KnownMax 0).
func (s *Sink) toAsk(ctx context.Context, bk batchKeys) ([]key, error) {
	s.known.mu.Lock()
	defer s.known.mu.Unlock()
	if !s.known.valid {
		if err := s.rebuildKnown(ctx); err != nil {
			return nil, err
		}
	}
	if s.known.hashes == nil {
		return bk.keys, nil
	}
	var ask []key
	for _, k := range bk.keys {
		h := keyHash(k)
		if _, ok := s.known.hashes[h]; ok {
			ask = append(ask, k)
		} else {
			s.known.hashes[h] = struct{}{}
		}
	}
	if len(s.known.hashes) > s.KnownMax {
		s.known.hashes = nil // beyond the bound: look every key up until rebuilt
	}
	return ask, nil
}

// rebuildKnown reads the hash of every stored key (s.known.mu held). With
// more than KnownMax rows the set is dropped until the next Reassigned.
func (s *Sink) rebuildKnown(ctx context.Context) error {
	s.known.hashes = nil
	if s.KnownMax <= 0 {
		s.known.valid = true
		return nil
	}
	rows, err := s.conn.Query(ctx, fmt.Sprintf(knownQuery, s.KnownMax+1))
	if err != nil {
		return fmt.Errorf("read the stored keys' hashes from clickhouse: %w", err)
	}
	defer rows.Close()
	hashes := map[uint64]struct{}{}
	n := 0
	for rows.Next() {
		var h uint64
		if err := rows.Scan(&h); err != nil {
			return fmt.Errorf("scan a stored key's hash: %w", err)
		}
		hashes[h] = struct{}{}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the stored keys' hashes: %w", err)
	}
	if n <= s.KnownMax {
		s.known.hashes = hashes
	}
	s.known.valid = true
	return nil
}
