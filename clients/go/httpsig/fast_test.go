package httpsig

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// fastSeeds are Signature-Input / Signature pairs in the shapes signers
// send (the fast path must take them) and near them.
var fastSeeds = [][2]string{
	{`sig1=("@method" "@target-uri" "content-type" "content-digest");created=1618884473;keyid="ps_abcdefgh";alg="hmac-sha256";nonce="4f1c2a"`,
		`sig1=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`},
	{`sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
		`sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`},
	{`pyhms=("@method" "@authority" "@path" "@query" "content-digest" "content-type");created=0;expires=999999999999999;keyid="k";nonce="a b, c";tag="t"`,
		`pyhms=:AA==:`},
	{`*x.y-z_1=();created=1`, `*x.y-z_1=:AAEC:`},
}

// TestParseFastMatchesHttpsfv checks the fast path against httpsfv on the
// seeds and on every one-byte deletion, duplication and replacement (by
// bytes that matter to the grammar) of them: whatever the fast path accepts,
// httpsfv's parse accepts as the same signature with the same serialized
// parameters; and the seeds themselves take the fast path.
func TestParseFastMatchesHttpsfv(t *testing.T) {
	for _, seed := range fastSeeds {
		if _, ok := parseFast(seed[0], seed[1]); !ok {
			t.Fatalf("the fast path declines %q / %q", seed[0], seed[1])
		}
		taken := 0
		for _, in := range mutations(seed[0]) {
			taken += checkFast(t, in, seed[1])
		}
		for _, sig := range mutations(seed[1]) {
			taken += checkFast(t, seed[0], sig)
		}
		if taken == 0 {
			t.Fatalf("no mutation of %q took the fast path", seed[0])
		}
	}
}

// FuzzParseFast is the same differential check on arbitrary input.
func FuzzParseFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, input, sig string) { checkFast(t, input, sig) })
}

func mutations(s string) []string {
	const alphabet = "\"\\()=;:, \t\n0aA-*?é\x00\x7f"
	var out []string
	for i := range len(s) + 1 {
		if i < len(s) {
			out = append(out, s[:i]+s[i+1:], s[:i]+s[i:i+1]+s[i:])
		}
		for _, c := range alphabet {
			out = append(out, s[:i]+string(c)+s[i:])
			if i < len(s) {
				out = append(out, s[:i]+string(c)+s[i+1:])
			}
		}
	}
	return out
}

// checkFast returns 1 when the fast path took input/sig (and agreed with
// httpsfv), else 0.
func checkFast(t *testing.T, input, sig string) int {
	t.Helper()
	fast, ok := parseFast(input, sig)
	if !ok {
		return 0
	}
	slow, err := parseFields([]string{input}, []string{sig})
	if err != nil {
		t.Fatalf("fast path took %q / %q, httpsfv refuses: %v", input, sig, err)
	}
	if len(slow) != 1 {
		t.Fatalf("fast path took %q / %q as one signature, httpsfv reads %d", input, sig, len(slow))
	}
	s := slow[0]
	want, err := s.signatureParams()
	if err != nil {
		t.Fatalf("fast path took %q, httpsfv cannot serialize it: %v", input, err)
	}
	same := fast.Label == s.Label && slices.Equal(fast.Components, s.Components) && (fast.Components == nil) == (s.Components == nil) &&
		fast.KeyID == s.KeyID && fast.Alg == s.Alg && fast.Created.Equal(s.Created) && fast.Expires.Equal(s.Expires) &&
		fast.Nonce == s.Nonce && bytes.Equal(fast.Value, s.Value) && fast.params == want
	if !same {
		t.Fatalf("%q / %q: fast path %+v (params %q), httpsfv %+v (params %q)", input, sig, fast, fast.params, s, want)
	}
	if strings.ContainsAny(fast.params, "\r\n") {
		t.Fatalf("fast path kept a line break in %q", fast.params)
	}
	return 1
}

// TestDigestFastMatchesHttpsfv: whatever Content-Digest the fast path
// accepts (the seed's, and every mutation of it, against the body and a
// changed body), httpsfv's CheckDigest accepts too; the seed takes it.
func TestDigestFastMatchesHttpsfv(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	seed := ContentDigest(body)
	if !digestFast(seed, body) {
		t.Fatalf("the fast path declines %q", seed)
	}
	for _, b := range [][]byte{body, []byte(`{"hello": "World"}`), nil} {
		for _, v := range append(mutations(seed), seed) {
			checkDigestFast(t, v, b)
		}
	}
}

// FuzzDigestFast is the same differential check on arbitrary input.
func FuzzDigestFast(f *testing.F) {
	f.Add(ContentDigest([]byte("x")), []byte("x"))
	f.Add("sha-256=:AA==:", []byte{})
	f.Fuzz(checkDigestFast)
}

func checkDigestFast(t *testing.T, v string, body []byte) {
	if !digestFast(v, body) {
		return
	}
	h := http.Header{}
	h.Set(HeaderContentDigest, v)
	if err := checkDigestFields(h.Values(HeaderContentDigest), body); err != nil {
		t.Fatalf("fast path accepted Content-Digest %q for %q, httpsfv refuses: %v", v, body, err)
	}
}
