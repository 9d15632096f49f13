package schemas

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestQuarantineRecordRoundTripsAndRefusesOtherRecords(t *testing.T) {
	q := &Quarantined{QuarantineID: "01KQ", TenantID: "acme", ID: "order-2", Type: "order.created", Subject: "s", Code: "schema_violation",
		Message: "want integer", Pointer: "/data/amount", SchemaVersion: 3, ReceivedAt: time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC),
		Original: []byte("{\"id\":\"order-2\",\"bad\":\"\xff\"}")}
	r, err := QuarantineRecord("events.v1.quarantine", q)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "acme/01KQ" {
		t.Fatalf("key %q", r.Key)
	}
	got, err := DecodeQuarantine(r)
	if err != nil {
		t.Fatal(err)
	}
	want := *q
	want.Version = RecordVersion
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got %+v\nwant %+v", *got, want)
	}
	ev := EventRecord("events.v1", &Event{TenantID: "acme", ID: "x", Type: "t"})
	bad := &kgo.Record{Headers: r.Headers, Value: []byte(`{"v":1}`)}
	future := &kgo.Record{Headers: []kgo.RecordHeader{{Key: HeaderKind, Value: []byte(KindQuarantine)}, {Key: HeaderVersion, Value: []byte("9")}}, Value: r.Value}
	for name, rec := range map[string]*kgo.Record{"an event": ev, "no ids": bad, "a later version": future} {
		var de *DecodeError
		if _, err := DecodeQuarantine(rec); !errors.As(err, &de) {
			t.Errorf("%s: %v, want a DecodeError", name, err)
		}
	}
}
