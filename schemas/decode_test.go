package schemas_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// eventValueSeeds are values in and around the writer's shape: every
// branch of the fast path and every reason to leave a value to encoding/json.
func eventValueSeeds() []string {
	ev := sampleEvent()
	ev.Extensions = nil
	ev.Subject = "plain é ∑ 😀"
	w := string(schemas.EventRecord("t", &ev).Value)
	return []string{
		w,
		string(schemas.EventRecord("t", func() *schemas.Event { e := sampleEvent(); return &e }()).Value), // escapes, extensions
		strings.ReplaceAll(w, `,`, " ,\n\t"),
		strings.ReplaceAll(w, `:`, " : "),
		" " + w + " \r\n",
		w + "x", w + "{}", w[:len(w)-1], "", "{", "}", "{}", "null", "[]", `"x"`, "1", "{,}", `{"v":1,}`,
		`{"v":1,"tenant_id":"a","id":"b","type":"c"}`,
		`{"v":1,"tenant_id":"a","id":"b","type":"c","v":1}`,
		`{"v":1,"tenant_id":"a","id":"b","type":"c","tenant_id":"z"}`,
		`{"V":1,"Tenant_ID":"a","ID":"b","TYPE":"c"}`,
		`{"v":1,"tenant_id":"a","id":"b","type":"c","unknown":{"x":[1,2]}}`,
		`{"v":1,"tenant\u005fid":"a","id":"b","type":"c"}`,
		`{"v":1.0,"tenant_id":"a","id":"b","type":"c"}`, `{"v":1e0,"id":"b"}`, `{"v":10,"id":"b"}`, `{"v":01,"id":"b"}`,
		`{"v":"1","id":"b"}`, `{"v":-1,"id":"b"}`, `{"v":null,"id":"b"}`, `{"v":1x}`, `{"v":2,"id":"b"}`,
		`{"v":1,"id":"a\nb"}`, `{"v":1,"id":"a\u0041\ud83d\ude00\ud800b"}`, "{\"v\":1,\"id\":\"a\xffb\"}", "{\"v\":1,\"id\":\"a\x01b\"}",
		`{"v":1,"id":null}`, `{"v":1,"id":5}`, `{"v":1,"id":"b","type":["c"]}`,
		`{"v":1,"time":"2026-11-26T09:00:00+01:00","received_at":"2026-11-26T10:00:00.123456789Z"}`,
		`{"v":1,"time":"2026-11-26T09:00:00+1:00"}`, `{"v":1,"time":"2026-11-26 09:00:00Z"}`, `{"v":1,"time":"2026-11-26T09:00:00\u005a"}`,
		`{"v":1,"time":null}`, `{"v":1,"time":12}`, `{"v":1,"time":"2026-13-26T09:00:00Z"}`, `{"v":1,"time":"2026-11-26T24:00:00Z"}`,
		`{"v":1,"data":null}`, `{"v":1,"data":true}`, `{"v":1,"data":false}`, `{"v":1,"data":nul}`, `{"v":1,"data":"s\"\\\/\b\f\n\r\t\u00e9"}`,
		`{"v":1,"data":"\x"}`, `{"v":1,"data":"\u12"}`, `{"v":1,"data":-0.5e+10}`, `{"v":1,"data":-}`, `{"v":1,"data":0.}`,
		`{"v":1,"data":1.e5}`, `{"v":1,"data":1E-05}`, `{"v":1,"data":00}`, `{"v":1,"data":-01}`, `{"v":1,"data":+1}`,
		`{"v":1,"data":[ ]}`, `{"v":1,"data":[1,]}`, `{"v":1,"data":[,1]}`, `{"v":1,"data":{ }}`, `{"v":1,"data":{"a" :1 , "b":[{}]}}`,
		`{"v":1,"data":{"a":1,}}`, `{"v":1,"data":{1:1}}`, `{"v":1,"data":{"a"}}`, `{"v":1,"data":[1 2]}`, `{"v":1,"data":"a` + "\x01" + `"}`,
		`{"v":1,"data":{"a":1},"data":{"b":2}}`, `{"v":1,"data_base64":"AAEC"}`, `{"v":1,"extensions":{"n":1.5,"s":"x"}}`,
		`{"v":1,"data":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}`,
		`{"v":1,"data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
		`{"v":1,"data":` + strings.Repeat(`{"a":`, 999) + "1" + strings.Repeat("}", 999) + `}`,
	}
}

// agreeWithEncodingJSON checks that the codec's event decoder and
// json.Unmarshal give the same verdict and the same Event for value.
func agreeWithEncodingJSON(t *testing.T, value []byte) {
	t.Helper()
	var got, want schemas.Event
	gotErr, wantErr := schemas.DecodeEventV1(value, &got), json.Unmarshal(value, &want)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: codec error %v, encoding/json error %v", value, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoded\n got  %#v\n want %#v", value, got, want)
	}
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	for _, v := range eventValueSeeds() {
		agreeWithEncodingJSON(t, []byte(v))
	}
}

// FuzzDecodeEventMatchesEncodingJSON: on every input, the event decoder
// and encoding/json agree on the verdict and on the decoded Event.
func FuzzDecodeEventMatchesEncodingJSON(f *testing.F) {
	for _, v := range eventValueSeeds() {
		f.Add([]byte(v))
	}
	f.Fuzz(agreeWithEncodingJSON)
}

// referenceDecode is version 1 as the codec read it before its fast path:
// encoding/json, then the same checks as DecodeRecord.
func referenceDecode(r *kgo.Record) (schemas.Record, bool) {
	tenant, id, err := schemas.SplitKey(r.Key)
	if err != nil || id == "" {
		return schemas.Record{}, false
	}
	d := schemas.Record{Kind: string(r.Headers[1].Value), TenantID: tenant, ExternalID: id}
	var v struct {
		Version  int    `json:"v"`
		TenantID string `json:"tenant_id"`
		ID       string `json:"id"`
	}
	switch d.Kind {
	case schemas.KindEvent:
		d.Event = new(schemas.Event)
		err = json.Unmarshal(r.Value, d.Event)
		v.Version, v.TenantID, v.ID = d.Event.Version, d.Event.TenantID, d.Event.ID
		if err == nil && d.Event.Type == "" {
			return d, false
		}
	case schemas.KindTombstone:
		d.Tombstone = new(schemas.Tombstone)
		err = json.Unmarshal(r.Value, d.Tombstone)
		v.Version, v.TenantID, v.ID = d.Tombstone.Version, d.Tombstone.TenantID, d.Tombstone.ID
	default:
		return d, false
	}
	return d, err == nil && v.Version == 1 && v.TenantID == tenant && v.ID == id
}

// FuzzDecodeRecordMatchesReference: whole records (key, kind, value) get
// the same verdict and the same Record from DecodeRecord as from the
// encoding/json reader it replaced.
func FuzzDecodeRecordMatchesReference(f *testing.F) {
	for _, v := range eventValueSeeds() {
		f.Add([]byte(v), "acme/order-42", false)
	}
	f.Add([]byte(`{"v":1,"tenant_id":"a","id":"b/c","type":"t"}`), "a/b/c", false)
	f.Add([]byte(`{"v":1,"tenant_id":"a","id":"b","deleted_at":"2026-11-26T13:00:00Z"}`), "a/b", true)
	f.Add([]byte(`{"v":1,"tenant_id":"a","id":"b"}`), "a/c", true)
	f.Fuzz(func(t *testing.T, value []byte, key string, tombstone bool) {
		kind := schemas.KindEvent
		if tombstone {
			kind = schemas.KindTombstone
		}
		r := &kgo.Record{Key: []byte(key), Value: value, Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderVersion, Value: []byte("1")}, {Key: schemas.HeaderKind, Value: []byte(kind)}}}
		got, err := schemas.DecodeRecord(r)
		want, ok := referenceDecode(r)
		if (err == nil) != ok {
			t.Fatalf("key %q value %q: codec error %v, reference accepts %v", key, value, err, ok)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("key %q value %q: decoded\n got  %#v\n want %#v", key, value, got, want)
		}
	})
}

// TestWriterRecordsTakeTheFastPath: a record as the gateway writes it
// decodes in three allocations (the Event, one copy of the value for its
// strings, one of its data), where encoding/json needed eighteen.
func TestWriterRecordsTakeTheFastPath(t *testing.T) {
	ev := sampleEvent()
	ev.Extensions, ev.Subject = nil, "plain é"
	ev.Data = json.RawMessage(`{"order_id":42,"items":[{"sku":"A-1","qty":2}],"note":"x"}`)
	r := schemas.EventRecord("t", &ev)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := schemas.DecodeRecord(r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Fatalf("%v allocations per record, want 3", allocs)
	}
	d, _ := schemas.DecodeRecord(r)
	if !bytes.Equal(d.Event.Data, ev.Data) || !d.Event.Time.Equal(ev.Time) {
		t.Fatalf("decoded %+v", d.Event)
	}
}
