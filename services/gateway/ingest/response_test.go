package ingest

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	part, off, neg := int32(3), int64(1234567890123), int64(-1)
	tricky := []string{"", "plain", `q"uote\back`, "<script>&amp;</script>", "ctl\x00\x01\x1f\b\f\n\r\t", "utf8 é ✓ 𝄞", "line\u2028sep\u2029",
		"bad\xffutf8\xc3", "\x7f del"}
	var cases []Response
	for _, s := range tricky {
		cases = append(cases, Response{Accepted: 1, Duplicate: 2, Rejected: 3, Results: []Result{
			{Index: 0, ID: s, Status: StatusAccepted, IngestID: s, Partition: &part, Offset: &off},
			{Index: 1, ID: s, Status: StatusRejected, Code: s, Message: s, Pointer: s, SchemaVersion: 7, QuarantineID: s},
			{Index: 2, ID: s, Status: StatusAccepted, Warnings: []Warning{{Code: s, Message: s, Pointer: s, SchemaVersion: 2}, {Code: s, Message: s}}},
		}, Error: &apierror.Detail{Code: s, Message: s, Parameter: s, Offset: &neg}})
	}
	cases = append(cases, Response{}, Response{Results: []Result{}}, Response{Error: &apierror.Detail{}})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		raw := make([]byte, rng.IntN(12))
		for i := range raw {
			raw[i] = byte(rng.IntN(256))
		}
		s := string(raw)
		cases = append(cases, Response{Results: []Result{{ID: s, Status: s, Message: s}}})
	}
	for i := range cases {
		want, err := json.Marshal(&cases[i])
		if err != nil {
			t.Fatal(err)
		}
		got := appendResponse(nil, &cases[i])
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("case %d: %s is not JSON: %v", i, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// hundredAccepted is the answer to a batch of 100 accepted events.
func hundredAccepted() Response {
	part, off := int32(1), int64(42)
	r := Response{Accepted: 100}
	for i := range 100 {
		r.Results = append(r.Results, Result{Index: i, ID: "order-created-0001", Status: StatusAccepted, IngestID: "01JDXYZABCDEFGHJKMNPQRSTVW", Partition: &part, Offset: &off})
	}
	return r
}

func BenchmarkAppendResponse(b *testing.B) {
	r := hundredAccepted()
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = appendResponse(buf[:0], &r)
	}
}

func BenchmarkMarshalResponse(b *testing.B) {
	r := hundredAccepted()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&r); err != nil {
			b.Fatal(err)
		}
	}
}
