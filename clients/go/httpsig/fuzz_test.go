package httpsig

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// FuzzParse feeds arbitrary Signature-Input and Signature values to Parse and
// Check: they must never panic, must refuse with one of the package's codes,
// and what Parse accepts must survive a serialize/parse round trip unchanged
// (the signature base is built from the re-serialized parameters).
func FuzzParse(f *testing.F) {
	f.Add(`sig1=("@method" "@target-uri" "content-type" "content-digest");created=1618884473;keyid="ps_abcdefgh";alg="hmac-sha256";nonce="n"`,
		`sig1=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`)
	f.Add(`a=();created=1, b=("x";sf)`, `a=:AA==:, b=:AA==:`)
	f.Add(`sig=("@path" "@path")`, `sig=?1`)
	f.Add(`sig=("date");expires=-1;tag=tok`, `sig=:=:`)
	secret := []byte("fuzz")
	now := time.Unix(1618884473, 0)
	f.Fuzz(func(t *testing.T, input, sig string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/events?q", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(HeaderSignatureInput, input)
		r.Header.Set(HeaderSignature, sig)
		sigs, err := Parse(r.Header)
		if err != nil {
			if c := codeOf(err); c != CodeInvalid && c != CodeMissing {
				t.Fatalf("Parse refused with %q: %v", c, err)
			}
			return
		}
		if len(sigs) == 0 || len(sigs) > MaxSignatures {
			t.Fatalf("Parse returned %d signatures", len(sigs))
		}
		for _, s := range sigs {
			roundTrip(t, s)
			_, err := Check(FromServer(r), []Signature{s}, Policy{KeyID: s.KeyID, Secret: secret, Now: now, Window: time.Hour, HasBody: true})
			if err != nil {
				if c := codeOf(err); c != CodeInvalid && c != CodeExpired {
					t.Fatalf("Check refused with %q: %v", c, err)
				}
			}
		}
	})
}

func roundTrip(t *testing.T, s Signature) {
	t.Helper()
	if len(s.Components) > MaxComponents || len(s.Nonce) > MaxNonceLen {
		t.Fatalf("limits not enforced: %d components, nonce of %d bytes", len(s.Components), len(s.Nonce))
	}
	text, err := s.signatureParams()
	if err != nil {
		return // a parsed value the library will not serialize: Check refuses it
	}
	d, err := httpsfv.UnmarshalDictionary([]string{"x=" + text})
	if err != nil {
		t.Fatalf("re-serialized input %q does not parse: %v", text, err)
	}
	m, _ := d.Get("x")
	again, ok := m.(httpsfv.InnerList)
	if !ok || len(again.Items) != len(s.Components) {
		t.Fatalf("round trip of %q changed the components", text)
	}
	for i, it := range again.Items {
		if name, _ := it.Value.(string); name != s.Components[i] {
			t.Fatalf("round trip of %q changed component %d", text, i)
		}
	}
	if want, _ := httpsfv.Marshal(again); want != text {
		t.Fatalf("round trip of %q changed the parameters", text)
	}
}
