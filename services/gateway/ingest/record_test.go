package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
)

func sampleEvent() schemas.Event {
	return schemas.Event{
		Version: 1, TenantID: "acme", IngestID: "01JDX0000000000000000000", ReceivedAt: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		ContentHash: "abc", ID: "order-42", Type: "com.example.created", Source: "/shop", Subject: "line\n\"quoted\" \\ \u0001 é",
		Time: time.Date(2026, 11, 26, 9, 0, 0, 0, time.FixedZone("x", 3600)), DataContentType: "application/json",
		Extensions: map[string]any{"ext": "v", "n": json.Number("12345678901234567890")},
		Data:       json.RawMessage(`{"a":[1,2,{"b":null}],"c":"d"}`),
	}
}

func TestRecordValueMatchesEncodingJSON(t *testing.T) {
	for _, ev := range []schemas.Event{sampleEvent(), {Version: 1, ID: "x", Type: "t", DataBase64: "AAEC"}} {
		got := appendEvent(nil, &ev)
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("record value differs from encoding/json:\n got  %s\n want %s", got, want)
		}
		var back schemas.Event
		if err := json.Unmarshal(got, &back); err != nil || back.ID != ev.ID || back.Subject != ev.Subject || !back.Time.Equal(ev.Time) {
			t.Fatalf("round trip: %+v %v", back, err)
		}
	}
}

func TestRecordKeyIsTenantSlashIDAndHeadersCarryVersionAndKind(t *testing.T) {
	ev := sampleEvent()
	r := eventRecord("topic", &ev)
	if string(r.Key) != "acme/order-42" || r.Topic != "topic" {
		t.Fatalf("key %q", r.Key)
	}
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	if h[schemas.HeaderVersion] != fmt.Sprint(schemas.RecordVersion) || h[schemas.HeaderKind] != schemas.KindEvent || h[schemas.HeaderContentType] != schemas.ContentTypeJSON {
		t.Fatalf("headers %v", h)
	}
}

// BenchmarkKeyDerivation is schemas.Key as the producer path calls it (one
// allocation: the key bytes the record keeps).
func BenchmarkKeyDerivation(b *testing.B) {
	b.ReportAllocs()
	tenant, id := "tenant-acme", "evt-00001234"
	var n int
	for i := 0; i < b.N; i++ {
		k := schemas.Key(tenant, id)
		n += len(k)
	}
	if n == 0 {
		b.Fatal("no key")
	}
}

func BenchmarkRecordEncode(b *testing.B) {
	ev := sampleEvent()
	ev.Extensions = nil
	ev.Subject = "order-42"
	ev.Data = json.RawMessage(`{"order_id":42,"customer":"cust-42","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = eventRecord("events.v1", &ev)
	}
}

func BenchmarkRecordEncodeWithEncodingJSON(b *testing.B) {
	ev := sampleEvent()
	ev.Extensions = nil
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = json.Marshal(&ev)
	}
}
