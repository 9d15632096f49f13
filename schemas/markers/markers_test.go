package markers

import (
	"errors"
	"testing"
	"time"
)

func TestMarkerRoundTripsThroughItsRedisValue(t *testing.T) {
	m := Marker{ContentHash: "ab12", AcceptedAt: time.UnixMilli(1764172800123).UTC(), Partition: 5, Offset: 1 << 40, IngestID: "01JABCDEF"}
	got, err := Decode(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Fatalf("round trip: got %+v, want %+v", got, m)
	}
	if want := "v1|ab12|1764172800123|5|1099511627776|01JABCDEF"; m.Encode() != want {
		t.Fatalf("encoding changed (the query service reads it): %q, want %q", m.Encode(), want)
	}
}

func TestKeyIsPrefixAcceptedTenantSlashID(t *testing.T) {
	if got := Key(DefaultPrefix, "acme", "order/42"); got != "ps:accepted:acme/order/42" {
		t.Fatalf("Key = %q", got)
	}
}

func TestDecodeRefusesForeignValues(t *testing.T) {
	for _, s := range []string{"", "v2|a|1|2|3|x", "v1|a|x|2|3|i", "v1|a|1|2|3", "v1|a|1|99999999999|3|i"} {
		if _, err := Decode(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", s, err)
		}
	}
}
