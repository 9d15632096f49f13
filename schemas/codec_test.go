package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

func sampleEvent() schemas.Event {
	return schemas.Event{
		Version: 1, TenantID: "acme", IngestID: "01JDX0000000000000000000", ReceivedAt: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		ContentHash: "abc", ID: "order-42", Type: "com.example.created", Source: "/shop", Subject: "line\n\"quoted\" \\ \u0001 é <&>",
		Time: time.Date(2026, 11, 26, 9, 0, 0, 0, time.FixedZone("x", 3600)), DataContentType: "application/json",
		Extensions: map[string]any{"ext": "v", "n": json.Number("12345678901234567890")},
		Data:       json.RawMessage(`{"a":[1,2,{"b":null}],"c":"d"}`),
	}
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// viaEncodingJSON is what encoding/json makes of ev on a round trip: the
// reference the hand-written encoder must agree with.
func viaEncodingJSON(t testing.TB, ev schemas.Event) schemas.Event {
	ev.Version = schemas.RecordVersion
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back schemas.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// sameEvent compares decoded events, Data as compact JSON (encoding/json
// compacts a RawMessage, the record keeps it as sent).
func sameEvent(t testing.TB, got, want *schemas.Event) {
	t.Helper()
	g, w := jsonText(got.Data), jsonText(want.Data)
	gc, wc := *got, *want
	gc.Data, wc.Data = nil, nil
	if !reflect.DeepEqual(gc, wc) || g != w {
		t.Fatalf("decoded event differs from encoding/json's:\n got  %+v %s\n want %+v %s", gc, g, wc, w)
	}
}

// jsonText is data compacted and HTML-escaped, as encoding/json marshals a
// json.RawMessage: the record carries data as the producer sent it (`"&"`),
// encoding/json writes the same value as `"\u0026"`; both are one JSON text.
func jsonText(data []byte) string {
	var c, h bytes.Buffer
	_ = json.Compact(&c, data)
	json.HTMLEscape(&h, c.Bytes())
	return h.String()
}

// encodeAgrees encodes ev, checks that its value decodes (plain
// encoding/json) to what encoding/json makes of ev, and returns both.
func encodeAgrees(t testing.TB, ev schemas.Event) (*kgo.Record, schemas.Event) {
	t.Helper()
	r := schemas.EventRecord("topic", &ev)
	var got schemas.Event
	if err := json.Unmarshal(r.Value, &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", r.Value, err)
	}
	want := viaEncodingJSON(t, ev)
	sameEvent(t, &got, &want)
	return r, want
}

func TestEventValueMatchesEncodingJSON(t *testing.T) {
	for _, ev := range []schemas.Event{sampleEvent(), {Version: 1, TenantID: "t", ID: "x", Type: "t", DataBase64: "AAEC"}} {
		encodeAgrees(t, ev)
	}
}

func TestEventRecordRoundTripsAndCarriesKeyAndHeaders(t *testing.T) {
	ev := sampleEvent()
	r := schemas.EventRecord("topic", &ev)
	if string(r.Key) != "acme/order-42" || r.Topic != "topic" {
		t.Fatalf("key %q topic %q", r.Key, r.Topic)
	}
	h := headers(r)
	if h[schemas.HeaderVersion] != strconv.Itoa(schemas.RecordVersion) || h[schemas.HeaderKind] != schemas.KindEvent || h[schemas.HeaderContentType] != schemas.ContentTypeJSON {
		t.Fatalf("headers %v", h)
	}
	d, err := schemas.DecodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	want := viaEncodingJSON(t, ev)
	if d.Kind != schemas.KindEvent || d.TenantID != "acme" || d.ExternalID != "order-42" || d.Tombstone != nil {
		t.Fatalf("decoded %+v", d)
	}
	sameEvent(t, d.Event, &want)
}

func TestRecordsOwnTheirHeadersAndKeys(t *testing.T) {
	ev := sampleEvent()
	a, b := schemas.EventRecord("t", &ev), schemas.EventRecord("t", &ev)
	a.Headers[0].Value = []byte("99")
	a.Key = append(a.Key, "-more"...)
	if headers(b)[schemas.HeaderVersion] != "1" || string(b.Key) != "acme/order-42" || !json.Valid(a.Value) {
		t.Fatalf("records share state: %q %v %s", b.Key, headers(b), a.Value)
	}
}

func TestTombstoneRecordRoundTrips(t *testing.T) {
	ts := schemas.Tombstone{TenantID: "acme", ID: "order/42", DeletedAt: time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC), ErasureID: "er-1"}
	r, err := schemas.TombstoneRecord("topic", &ts)
	if err != nil {
		t.Fatal(err)
	}
	if h := headers(r); string(r.Key) != "acme/order/42" || h[schemas.HeaderKind] != schemas.KindTombstone || h[schemas.HeaderVersion] != "1" {
		t.Fatalf("key %q headers %v", r.Key, h)
	}
	d, err := schemas.DecodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	ts.Version = schemas.RecordVersion
	if d.Kind != schemas.KindTombstone || d.ExternalID != "order/42" || d.Event != nil || *d.Tombstone != ts {
		t.Fatalf("decoded %+v", d)
	}
}

func TestDecodeRecordRefusesPoisonRecords(t *testing.T) {
	ev := sampleEvent()
	good := schemas.EventRecord("t", &ev)
	withHeader := func(k, v string) *kgo.Record {
		r := *good
		r.Headers = append([]kgo.RecordHeader(nil), good.Headers...)
		for i := range r.Headers {
			if r.Headers[i].Key == k {
				r.Headers[i].Value = []byte(v)
			}
		}
		return &r
	}
	cases := map[string]*kgo.Record{
		"no headers":       {Key: good.Key, Value: good.Value},
		"unknown version":  withHeader(schemas.HeaderVersion, "2"),
		"unknown kind":     withHeader(schemas.HeaderKind, "snapshot"),
		"not json":         {Key: good.Key, Value: []byte("{nope"), Headers: good.Headers},
		"key without id":   {Key: []byte("acme"), Value: good.Value, Headers: good.Headers},
		"empty id":         {Key: []byte("acme/"), Value: good.Value, Headers: good.Headers},
		"key/value differ": {Key: schemas.Key("other", "order-42"), Value: good.Value, Headers: good.Headers},
		"value version":    {Key: good.Key, Value: []byte(`{"v":9,"tenant_id":"acme","id":"order-42","type":"x"}`), Headers: good.Headers},
		"no type":          {Key: good.Key, Value: []byte(`{"v":1,"tenant_id":"acme","id":"order-42"}`), Headers: good.Headers},
		"tombstone differs": {Key: good.Key, Value: []byte(`{"v":1,"tenant_id":"acme","id":"other"}`),
			Headers: withHeader(schemas.HeaderKind, schemas.KindTombstone).Headers},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := schemas.DecodeRecord(r)
			var de *schemas.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want a DecodeError, got %v", err)
			}
		})
	}
}

// FuzzEventRecordRoundTrip: whatever the strings and data, the record's
// value decodes to what encoding/json makes of the event, and a record of
// a valid event decodes back to it.
func FuzzEventRecordRoundTrip(f *testing.F) {
	f.Add("acme", "order-42", "com.example.created", "line\n\"q\" \\ \u0001 é", []byte(`{"a":[1,2]}`), int64(1764172800123456789))
	f.Add("t", "x/y", "t", "\xff\xfe<&>\u2028", []byte(` { "b" : "c" } `), int64(0))
	f.Add("t", "", "", "", []byte(nil), int64(-1))
	f.Fuzz(func(t *testing.T, tenant, id, typ, subject string, data []byte, nanos int64) {
		if len(data) > 0 && !json.Valid(data) {
			return // the gateway only ever writes validated JSON data
		}
		at := time.Unix(0, nanos).UTC()
		if at.Year() < 0 || at.Year() > 9999 {
			return // encoding/json refuses times outside RFC 3339
		}
		ev := schemas.Event{TenantID: tenant, IngestID: id, ReceivedAt: at, ContentHash: subject, ID: id, Type: typ,
			Source: typ, Subject: subject, Time: at, DataContentType: subject, DataSchema: typ, Data: data}
		r, want := encodeAgrees(t, ev)
		d, err := schemas.DecodeRecord(r)
		valid := tenant != "" && !bytes.ContainsRune([]byte(tenant), '/') && id != "" && typ != "" &&
			utf8.ValidString(tenant) && utf8.ValidString(id)
		if valid != (err == nil) {
			t.Fatalf("valid %v, decode error %v", valid, err)
		}
		if err == nil {
			sameEvent(t, d.Event, &want)
		}
	})
}

// BenchmarkKeyDerivation is Key as a producer calls it (one allocation:
// the key bytes the record keeps).
func BenchmarkKeyDerivation(b *testing.B) {
	b.ReportAllocs()
	tenant, id := "tenant-acme", "evt-00001234"
	var n int
	for i := 0; i < b.N; i++ {
		n += len(schemas.Key(tenant, id))
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
		_ = schemas.EventRecord("events.v1", &ev)
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

// The optional trace context headers are not part of the format version:
// a record carrying them decodes exactly as the same record without them.
func TestTraceHeadersDoNotChangeTheRecord(t *testing.T) {
	ev := sampleEvent()
	plain := schemas.EventRecord("events", &ev)
	traced := schemas.EventRecord("events", &ev)
	traced.Headers = append(traced.Headers,
		kgo.RecordHeader{Key: schemas.HeaderTraceParent, Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		kgo.RecordHeader{Key: schemas.HeaderTraceState, Value: []byte("vendor=x")})
	a, errA := schemas.DecodeRecord(plain)
	b, errB := schemas.DecodeRecord(traced)
	if errA != nil || errB != nil {
		t.Fatalf("decode: %v, %v", errA, errB)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("traced record decodes to %+v, untraced to %+v", b, a)
	}
}
