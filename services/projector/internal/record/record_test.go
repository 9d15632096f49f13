package record_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func event(tenant, id string) *schemas.Event {
	return &schemas.Event{Version: 1, TenantID: tenant, IngestID: "ing-" + id, ReceivedAt: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		ContentHash: "abc", ID: id, Type: "order.created", Source: "shop", Time: time.Date(2026, 11, 26, 11, 59, 0, 0, time.UTC),
		DataContentType: "application/json", Data: json.RawMessage(`{"amount":42,"currency":"EUR","items":[1,2,3]}`)}
}

func TestDecodeAcceptsEventsAndTombstones(t *testing.T) {
	r := schemas.EventRecord("t", event("ten", "e1"))
	r.Offset, r.Partition = 7, 2
	it, err := record.Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	if it.Kind != record.KindEvent || it.TenantID != "ten" || it.ExternalID != "e1" || it.Offset != 7 || it.Partition != 2 || it.Event.Type != "order.created" {
		t.Fatalf("decoded %+v", it)
	}
	del := time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)
	r, err = schemas.TombstoneRecord("t", &schemas.Tombstone{TenantID: "ten", ID: "e1", DeletedAt: del})
	if err != nil {
		t.Fatal(err)
	}
	it, err = record.Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	if it.Kind != record.KindTombstone || !it.DeletedAt().Equal(del) {
		t.Fatalf("decoded %+v", it)
	}
}

// TestDecodeRefusesPoisonRecords: the codec's verdicts (every case in
// schemas' TestDecodeRecordRefusesPoisonRecords) reach the consumer as a
// *schemas.DecodeError.
func TestDecodeRefusesPoisonRecords(t *testing.T) {
	r := schemas.EventRecord("t", event("ten", "e1"))
	r.Value = []byte("{nope")
	_, err := record.Decode(r)
	var de *schemas.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("want a DecodeError, got %v", err)
	}
}

// BenchmarkDecodeBatch measures the first half of the batch build (records →
// items); the sinks' benchmarks measure items → rows.
func BenchmarkDecodeBatch(b *testing.B) {
	recs := records(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range recs {
			if _, err := record.Decode(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}

// records returns n event records of ~300 bytes.
func records(n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		r := schemas.EventRecord("t", event("tenant-bench", fmt.Sprintf("evt-%07d", i)))
		r.Offset = int64(i)
		out[i] = r
	}
	return out
}
