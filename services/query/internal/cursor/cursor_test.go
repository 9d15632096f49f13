package cursor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var key = []byte(strings.Repeat("k", 32))

func codec(tb testing.TB) *Codec {
	c, err := NewCodec(key)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestCursorRoundTripsItsPosition(t *testing.T) {
	c := codec(t)
	d := Digest("tenant", "filters")
	for _, p := range []Position{
		{Time: time.Date(2026, 11, 26, 17, 0, 0, 123456000, time.UTC), ExternalID: "order-42"},
		{Time: time.Unix(0, 0).UTC(), ExternalID: "ünïcödé/with|pipes and \x00?"},
		{Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ExternalID: strings.Repeat("x", 256)},
	} {
		got, err := c.Decode(d, c.Encode(d, p))
		if err != nil || !got.Time.Equal(p.Time) || got.ExternalID != p.ExternalID {
			t.Errorf("round trip of %+v: %+v, %v", p, got, err)
		}
	}
}

func TestCursorOfAnotherQueryOrKeyIsRefused(t *testing.T) {
	c := codec(t)
	p := Position{Time: time.Now(), ExternalID: "a"}
	s := c.Encode(Digest("tenant-a", "q"), p)
	if _, err := c.Decode(Digest("tenant-b", "q"), s); !errors.Is(err, ErrOtherQuery) {
		t.Errorf("other tenant: %v, want ErrOtherQuery", err)
	}
	if _, err := c.Decode(Digest("tenant-a", "q2"), s); !errors.Is(err, ErrOtherQuery) {
		t.Errorf("other filters: %v, want ErrOtherQuery", err)
	}
	other, _ := NewCodec([]byte(strings.Repeat("z", 32)))
	if _, err := other.Decode(Digest("tenant-a", "q"), s); !errors.Is(err, ErrMalformed) {
		t.Errorf("other key: %v, want ErrMalformed", err)
	}
	// Digest parts are length-prefixed: moving a boundary changes it.
	if Digest("ab", "c") == Digest("a", "bc") {
		t.Error("digest ignores part boundaries")
	}
}

func TestEveryAlteredCursorIsRefused(t *testing.T) {
	c := codec(t)
	d := Digest("t")
	s := c.Encode(d, Position{Time: time.Now(), ExternalID: "abc"})
	for i := range len(s) {
		for _, r := range "AQw-_" {
			if byte(r) == s[i] {
				continue
			}
			alt := s[:i] + string(r) + s[i+1:]
			if _, err := c.Decode(d, alt); err == nil {
				// The last character carries unused bits in base64; only
				// changes that alter the decoded bytes must fail.
				if i == len(s)-1 {
					continue
				}
				t.Errorf("altered cursor %q (position %d) accepted", alt, i)
			}
		}
	}
	for _, bad := range []string{"", "!!!", "AAAA", strings.Repeat("A", MaxLen+1)} {
		if _, err := c.Decode(d, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
}

func TestShortKeyIsRefused(t *testing.T) {
	if _, err := NewCodec([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

// FuzzDecode: no input panics; whatever decodes re-encodes to a cursor with
// the same position; nothing decodes unless it was signed with the key.
func FuzzDecode(f *testing.F) {
	c := codec(f)
	d := Digest("t", "q")
	f.Add(c.Encode(d, Position{Time: time.Unix(1700000000, 5000), ExternalID: "x"}))
	f.Add(c.Encode(d, Position{Time: time.Unix(-62135596800, 0), ExternalID: ""}))
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("_", 80))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := c.Decode(d, s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrOtherQuery) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		again, err := c.Decode(d, c.Encode(d, p))
		if err != nil || !again.Time.Equal(p.Time) || again.ExternalID != p.ExternalID {
			t.Fatalf("re-encode of %+v: %+v %v", p, again, err)
		}
	})
}
