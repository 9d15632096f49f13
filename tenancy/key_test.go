package tenancy

import (
	"strings"
	"testing"
)

func TestNewRawKeyHasDocumentedFormatAndParses(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		raw, prefix, err := NewRawKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 64 || !strings.HasPrefix(raw, "ps_") || raw[11] != '_' {
			t.Fatalf("key %q does not read ps_<8>_<52>", raw)
		}
		if !strings.HasPrefix(raw, prefix+"_") || !ValidPrefix(prefix) {
			t.Fatalf("prefix %q is not the public part of the key", prefix)
		}
		got, ok := ParseKey(raw)
		if !ok || got != prefix {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q, true", raw, got, ok, prefix)
		}
		if seen[raw] || seen[prefix] {
			t.Fatalf("key or prefix repeated: %s", prefix)
		}
		seen[raw], seen[prefix] = true, true
	}
}

func TestParseKeyRejectsMalformedKeys(t *testing.T) {
	raw, _, err := NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"no marker", "xx" + raw[2:]},
		{"uppercase", strings.ToUpper(raw)},
		{"too short", raw[:len(raw)-1]},
		{"too long", raw + "a"},
		{"separator missing", raw[:11] + "a" + raw[12:]},
		{"character outside base32", raw[:20] + "1" + raw[21:]},
		{"prefix with digit 0", "ps_0" + raw[4:]},
		{"whitespace", " " + raw[1:]},
		{"prefix only", raw[:11]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := ParseKey(tt.key); ok {
				t.Fatalf("ParseKey(%q) accepted it with prefix %q", tt.key, p)
			}
		})
	}
}

func TestHashKeyIsSHA256OfTheWholeKey(t *testing.T) {
	// echo -n abc | sha256sum
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	h := HashKey("abc")
	if got := strings.ToLower(hexString(h[:])); got != want {
		t.Fatalf("HashKey(abc) = %s, want %s", got, want)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestRedactKeyNeverShowsTheSecret(t *testing.T) {
	raw, prefix, err := NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	got := RedactKey(raw)
	if strings.Contains(got, raw[12:]) || !strings.HasPrefix(got, prefix) {
		t.Fatalf("RedactKey = %q", got)
	}
	if got := RedactKey("garbage-" + raw); strings.Contains(got, raw[12:]) {
		t.Fatalf("RedactKey of a malformed key = %q", got)
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"192.0.2.7", "192.0.2.7/32", true},
		{"2001:db8::/32", "2001:db8::/32", true},
		{"2001:db8::1", "2001:db8::1/128", true},
		{" 10.1.0.0/16 ", "10.1.0.0/16", true},
		{"10.0.0.1/8", "", false},
		{"10.0.0.0/33", "", false},
		{"not-a-cidr", "", false},
		{"", "", false},
		{"::ffff:10.0.0.0/104", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseCIDR(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCIDR(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && p.String() != tt.want {
				t.Fatalf("ParseCIDR(%q) = %s, want %s", tt.in, p, tt.want)
			}
		})
	}
}

func TestContainsKeyFindsAKeyAnywhereInText(t *testing.T) {
	raw, _, err := NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{raw, "req-" + raw, raw + "-1", "ps_x ps_" + raw[3:] + " tail", "ps_ps_" + raw} {
		if !ContainsKey(s) {
			t.Errorf("ContainsKey(%q) = false", s)
		}
	}
	for _, s := range []string{"", "ps_", "req-01HZX", raw[:len(raw)-1], strings.ToUpper(raw), "ps_" + strings.Repeat("a", 61)} {
		if ContainsKey(s) {
			t.Errorf("ContainsKey(%q) = true", s)
		}
	}
}
