package chsink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// A failed INSERT is sent again as the same block, with the same token.
//
// ClickHouse writes the events part and each materialized view's part
// (events_per_minute, meter_values, and meter_minutes behind it) as separate
// parts: an engine that dies, or a view that fails, in the middle of an
// INSERT leaves some of them committed and not the others. Planning the batch
// again would then go wrong: the lookup finds the keys stored and plans no
// rows, so a view part that was lost is never written (the rollup stays
// short), and a view part that landed without the events part is written
// twice (the rollup counts double).
//
// So every INSERT carries an insert_deduplication_token, random per planned
// block, with deduplicate_blocks_in_dependent_materialized_views = 1; the
// tables behind events keep the tokens of their recent blocks (migration
// clickhouse/00080: non_replicated_deduplication_window, and
// replicated_deduplication_window in the cluster schema). When an INSERT
// fails with an error that may be retried, the sink keeps the block (rows,
// token, the batch's stats) for its partitions, and before it writes
// anything else for those partitions it sends that block again: every table
// that committed its part skips it (the engine passes a deduplicated block on
// to the views, and each view's target deduplicates its own part by a token
// derived from the block's), every table that did not writes it. The retry
// of the same batch then needs no lookup; a retry of other items (the
// consumer splitting a batch) is planned after the block is complete.
//
// The token is random, not derived from offsets: it can only ever match the
// very same block sent again, never a block of a recreated topic or of a
// replay after Truncate.
//
// Reassigned drops the kept blocks: another member may have written their
// partitions since (a resend could then count keys twice). What stays open: a
// block kept when the process stops or its partitions move, whose INSERT had
// landed in part. The next writer plans the batch from the lookup as before.

// pendingBlock is a planned block whose INSERT failed and may have landed in
// part.
type pendingBlock struct {
	token string
	rows  []Row
	batch string         // batchID of the items it was planned from
	stats consumer.Stats // what writing those items did
	parts []int32        // the partitions it holds rows of
}

// pending are the blocks to send again, by partition (one per partition at
// most: a partition's next write sends its block first).
type pending struct {
	mu     sync.Mutex
	byPart map[int32]*pendingBlock
}

// newToken is a fresh insert_deduplication_token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "chsink-" + hex.EncodeToString(b[:])
}

// batchID names a batch by its partitions' offset ranges and sizes: the
// consumer retries a failed batch with the same items.
func batchID(items []record.Item) string {
	type span struct {
		first, last int64
		n           int
	}
	spans := map[int32]*span{}
	for i := range items {
		it := &items[i]
		sp := spans[it.Partition]
		if sp == nil {
			spans[it.Partition] = &span{it.Offset, it.Offset, 1}
			continue
		}
		sp.first, sp.last, sp.n = min(sp.first, it.Offset), max(sp.last, it.Offset), sp.n+1
	}
	parts := make([]int32, 0, len(spans))
	for p := range spans {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var b strings.Builder
	for _, p := range parts {
		sp := spans[p]
		b.WriteString(strconv.Itoa(int(p)) + ":" + strconv.FormatInt(sp.first, 10) + "-" + strconv.FormatInt(sp.last, 10) + "/" + strconv.Itoa(sp.n) + ";")
	}
	return b.String()
}

// partitions are the distinct partitions of rows.
func partitions(rows []Row) []int32 {
	var ps []int32
	for i := range rows {
		if !slices.Contains(ps, rows[i].Partition) {
			ps = append(ps, rows[i].Partition)
		}
	}
	return ps
}

// keep remembers blk for its partitions.
func (s *Sink) keep(blk *pendingBlock) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	if s.pending.byPart == nil {
		s.pending.byPart = map[int32]*pendingBlock{}
	}
	for _, p := range blk.parts {
		s.pending.byPart[p] = blk
	}
}

// pendingFor returns the kept blocks holding rows of items' partitions.
func (s *Sink) pendingFor(items []record.Item) []*pendingBlock {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	var out []*pendingBlock
	for i := range items {
		if blk := s.pending.byPart[items[i].Partition]; blk != nil && !slices.Contains(out, blk) {
			out = append(out, blk)
		}
	}
	return out
}

// done forgets blk, written.
func (s *Sink) done(blk *pendingBlock) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	for _, p := range blk.parts {
		if s.pending.byPart[p] == blk {
			delete(s.pending.byPart, p)
		}
	}
}

// dropPending forgets every kept block (Reassigned).
func (s *Sink) dropPending() {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	s.pending.byPart = nil
}

// resend sends again the kept blocks of items' partitions. It returns the
// stats of the block planned from these very items, if one was among them
// (the batch is then written: nothing is left to plan).
func (s *Sink) resend(ctx context.Context, items []record.Item) (consumer.Stats, bool, error) {
	var (
		st   consumer.Stats
		same bool
	)
	id := ""
	for _, blk := range s.pendingFor(items) {
		if err := s.insert(ctx, blk.rows, blk.token); err != nil {
			return consumer.Stats{}, false, err
		}
		s.done(blk)
		if id == "" {
			id = batchID(items)
		}
		if blk.batch == id {
			st, same = blk.stats, true
		}
	}
	return st, same, nil
}

// dedupSettings make an INSERT's token count for events and for every view's
// target behind it.
func dedupSettings(token string) clickhouse.Settings {
	return clickhouse.Settings{"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1, "insert_deduplication_token": token}
}
