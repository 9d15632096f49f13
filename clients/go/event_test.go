package pulsestream

import (
	"encoding/json"
	"testing"
	"time"
)

// appendString and encoding/json agree on what every string decodes to.
func FuzzAppendStringDecodesLikeEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\n\r\t\x00\x1f\x7f", "é ü 日本", "\xff\xfe bad", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := appendString(nil, s)
		theirs, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, ours, err)
		}
		_ = json.Unmarshal(theirs, &b)
		if a != b {
			t.Fatalf("%q: ours decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}

func TestEventEncodesEveryAttribute(t *testing.T) {
	e := Event{ID: "a\"1", Type: "t", Source: "s", Subject: "sub", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)),
		DataContentType: "application/json", Data: map[string]int{"n": 1}, Extensions: map[string]any{"traceid": "x", "n": 2}}
	id, body, err := e.encode(NewID)
	if err != nil || id != "a\"1" {
		t.Fatal(id, err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]any{"specversion": "1.0", "id": "a\"1", "type": "t", "source": "s", "subject": "sub", "time": "2026-01-02T02:04:05.000000006Z",
		"datacontenttype": "application/json", "data": map[string]any{"n": 1.0}, "traceid": "x", "n": 2.0}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("encoded %s\nwant    %s", gb, wb)
	}
	_, min, _ := (&Event{ID: "x", Type: "t"}).encode(NewID)
	if string(min) != `{"specversion":"1.0","id":"x","type":"t"}` {
		t.Fatalf("minimal event: %s", min)
	}
}
