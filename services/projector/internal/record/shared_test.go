package record_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// copies returns fresh records with the same content as recs (another
// consumer's fetch of the same log).
func copies(recs []*kgo.Record) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		c := *r
		c.Key = append([]byte(nil), r.Key...)
		c.Value = append([]byte(nil), r.Value...)
		c.Headers = append([]kgo.RecordHeader(nil), r.Headers...)
		out[i] = &c
	}
	return out
}

// checkDecoded reports an error unless got is what Decode gives for every
// record (safe from any goroutine).
func checkDecoded(t *testing.T, recs []*kgo.Record, got []record.Decoded) {
	t.Helper()
	if len(got) != len(recs) {
		t.Errorf("%d decoded for %d records", len(got), len(recs))
		return
	}
	for i, r := range recs {
		want, wantErr := record.Decode(r)
		if got[i].Rec != r || !reflect.DeepEqual(got[i].Item, want) || fmt.Sprint(got[i].Err) != fmt.Sprint(wantErr) {
			t.Errorf("record %d: got %+v (%v), Decode gives %+v (%v)", i, got[i].Item, got[i].Err, want, wantErr)
			return
		}
	}
}

func taken(ds []record.Decoded) (n int) {
	for _, d := range ds {
		if d.Taken {
			n++
		}
	}
	return n
}

func TestSharedDecodesEachRecordOnceForTwoConsumers(t *testing.T) {
	recs := records(50)
	recs[7].Value = []byte("{nope") // a poison record: its error is shared too
	s := record.NewShared(2, 1000)
	first := s.DecodeBatch(recs)
	checkDecoded(t, recs, first)
	if n := taken(first); n != 0 {
		t.Fatalf("first consumer took %d decodes from nobody", n)
	}
	if s.Pending() != len(recs) {
		t.Fatalf("%d decodes wait for the second consumer, want %d", s.Pending(), len(recs))
	}
	other := copies(recs)
	second := s.DecodeBatch(other)
	checkDecoded(t, other, second)
	if n := taken(second); n != len(recs) {
		t.Fatalf("second consumer took %d of %d decodes", n, len(recs))
	}
	if s.Pending() != 0 {
		t.Fatalf("%d decodes kept after every consumer took them", s.Pending())
	}
	// A third read (a rewind) decodes again.
	if n := taken(s.DecodeBatch(copies(recs))); n != 0 {
		t.Fatalf("a re-read took %d decodes that were already handed out", n)
	}
}

// A record at the same position with other content (a topic deleted and
// recreated, or any difference Decode could see) is decoded, not taken.
func TestSharedDecodesARecordWhoseContentDiffers(t *testing.T) {
	recs := records(5)
	s := record.NewShared(2, 1000)
	s.DecodeBatch(recs)
	other := copies(recs)
	other[0].Value = append(other[0].Value[:len(other[0].Value)-1:len(other[0].Value)-1], ' ', '}')
	other[1].Key = []byte("tenant-bench/other")
	other[2].Headers[0].Value = []byte("2")
	other[3].Timestamp = other[3].Timestamp.Add(1)
	got := s.DecodeBatch(other)
	checkDecoded(t, other, got)
	for i := range 4 {
		if got[i].Taken {
			t.Fatalf("record %d with other content was taken from the first decode", i)
		}
	}
	if !got[4].Taken {
		t.Fatal("the unchanged record was decoded again")
	}
}

// Beyond the limit the oldest decodes are dropped; the later consumer
// decodes those itself, with the same result.
func TestSharedBoundsWhatWaitsForTheSlowerConsumer(t *testing.T) {
	recs := records(100)
	s := record.NewShared(2, 30)
	for i := 0; i < len(recs); i += 10 {
		s.DecodeBatch(recs[i : i+10])
		if s.Pending() > 30 {
			t.Fatalf("%d decodes held, limit 30", s.Pending())
		}
	}
	other := copies(recs)
	got := s.DecodeBatch(other)
	checkDecoded(t, other, got)
	if n := taken(got); n != 30 {
		t.Fatalf("took %d decodes, want the newest 30", n)
	}
	for i := range 70 {
		if got[i].Taken {
			t.Fatalf("record %d was taken though it was dropped", i)
		}
	}
}

// Two consumers decoding overlapping batches at the same moment each get
// exactly Decode's result (run with -race).
func TestSharedConcurrentConsumers(t *testing.T) {
	recs := records(2000)
	s := record.NewShared(2, 500)
	fetches := [][]*kgo.Record{recs, copies(recs)}
	var wg sync.WaitGroup
	for c := range fetches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := fetches[c]
			for i := 0; i < len(mine); i += 100 {
				checkDecoded(t, mine[i:i+100], s.DecodeBatch(mine[i:i+100]))
			}
		}()
	}
	wg.Wait()
}

func TestSharedWithOneReaderOnlyDecodes(t *testing.T) {
	recs := records(10)
	s := record.NewShared(1, 1000)
	checkDecoded(t, recs, s.DecodeBatch(recs))
	if s.Pending() != 0 {
		t.Fatalf("one reader kept %d decodes", s.Pending())
	}
	var none *record.Shared
	checkDecoded(t, recs, none.DecodeBatch(recs))
}

// BenchmarkDecodeTwoSinks is what both sinks' decoding costs per record:
// each sink decoding its own fetch of the same 1,000 records (alone), or
// the two sharing one decode (shared).
func BenchmarkDecodeTwoSinks(b *testing.B) {
	recs := records(1000)
	other := copies(recs)
	for _, mode := range []string{"alone", "shared"} {
		b.Run(mode, func(b *testing.B) {
			readers := 1
			if mode == "shared" {
				readers = 2
			}
			s := record.NewShared(readers, 10000)
			b.ReportAllocs()
			for b.Loop() {
				s.DecodeBatch(recs)
				s.DecodeBatch(other)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}
