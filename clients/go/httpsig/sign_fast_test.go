package httpsig

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
)

// TestSignFastMatchesHttpsfv: what Sign writes without httpsfv is byte for
// byte httpsfv's serialization, and what it does not write plainly is what
// httpsfv refuses (so Sign's answer is httpsfv's error).
func TestSignFastMatchesHttpsfv(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	strs := []string{"", "ps_abcdefgh", "n-1", `quote"d`, `back\slash`, "sp ace", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}", "tab\t", "nl\n", "del\x7f", "é", "\x00"}
	comps := [][]string{DefaultComponents, {"@method"}, {}, {"content-type", `x"y`}, {"é"}}
	times := []time.Time{at, time.Unix(0, 0), time.Unix(-5, 0), time.Unix(999_999_999_999_999, 0), time.Unix(1_000_000_000_000_000, 0), time.Unix(-1_000_000_000_000_000, 0)}
	n := 0
	check := func(c []string, created time.Time, p SignParams) {
		n++
		fast, ok := signatureParamsFast(c, created, p)
		want, err := httpsfv.Marshal(inputList(c, created, p))
		if ok && (err != nil || fast != want) {
			t.Fatalf("%q %v %+v: fast %q, httpsfv %q (%v)", c, created.Unix(), p, fast, want, err)
		}
		if !ok && err == nil {
			t.Fatalf("%q %v %+v: fast path declined what httpsfv serializes: %q", c, created.Unix(), p, want)
		}
	}
	for _, s := range strs {
		for _, c := range comps {
			check(c, at, SignParams{KeyID: s, Nonce: "n"})
			check(c, at, SignParams{KeyID: "k", Nonce: s})
			check(append(append([]string(nil), c...), s), at, SignParams{KeyID: "k"})
		}
	}
	for _, tm := range times {
		check(DefaultComponents, tm, SignParams{KeyID: "k"})
		check(DefaultComponents, at, SignParams{KeyID: "k", Expires: tm, Nonce: "x"})
	}
	t.Logf("%d cases", n)
}

// TestSignFastFieldsMatchHttpsfv: the fields Sign sets on its fast path
// (Content-Digest, Signature-Input, Signature) are what the httpsfv path
// sets for the same request, labels included.
func TestSignFastFieldsMatchHttpsfv(t *testing.T) {
	body := []byte(`{"id":"1","type":"t"}`)
	secret := []byte("pss_secret")
	for _, label := range []string{"", "sig1", "*a-b.c_9", "Bad", "9x"} {
		p := SignParams{KeyID: "ps_abcdefgh", Nonce: "abc", Created: time.Unix(1_700_000_000, 0), Label: label}
		fast, fastErr := signedWith(t, body, func(r *http.Request) error { return Sign(r, body, secret, p) })
		slow, slowErr := signedWith(t, body, func(r *http.Request) error {
			l := label
			if l == "" {
				l = DefaultLabel
			}
			d, sum := httpsfv.NewDictionary(), sha256.Sum256(body)
			d.Add("sha-256", httpsfv.NewItem(sum[:]))
			digest, _ := httpsfv.Marshal(d)
			r.Header.Set(HeaderContentDigest, digest)
			input := inputList(DefaultComponents, p.Created, p)
			b, err := base(FromClient(r), Signature{Components: DefaultComponents, input: input})
			if err != nil {
				return err
			}
			return setFields(r.Header, l, input, mac(secret, []byte(b)))
		})
		if (fastErr != nil) != (slowErr != nil) {
			t.Fatalf("label %q: errors %v / %v", label, fastErr, slowErr)
		}
		for _, f := range []string{HeaderContentDigest, HeaderSignatureInput, HeaderSignature} {
			if got, want := fast.Header.Get(f), slow.Header.Get(f); fastErr == nil && got != want {
				t.Fatalf("label %q: %s %q, httpsfv %q", label, f, got, want)
			}
		}
	}
	d, sum := httpsfv.NewDictionary(), sha256.Sum256(body)
	d.Add("sha-256", httpsfv.NewItem(sum[:]))
	if want, _ := httpsfv.Marshal(d); ContentDigest(body) != want {
		t.Fatalf("Content-Digest %q, httpsfv %q", ContentDigest(body), want)
	}
}

func signedWith(t *testing.T, body []byte, sign func(*http.Request) error) (*http.Request, error) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/v1/events?x=1", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r, sign(r)
}

// TestKeySignVerifies: a Key signs as Sign does with its secret.
func TestKeySignVerifies(t *testing.T) {
	body := []byte(strings.Repeat("b", 100))
	k := NewKey([]byte("pss_secret"))
	p := SignParams{KeyID: "ps_abcdefgh", Nonce: "n1", Created: time.Unix(1_700_000_000, 0)}
	a, _ := signedWith(t, body, func(r *http.Request) error { return k.Sign(r, body, p) })
	b, _ := signedWith(t, body, func(r *http.Request) error { return Sign(r, body, []byte("pss_secret"), p) })
	if a.Header.Get(HeaderSignature) != b.Header.Get(HeaderSignature) || a.Header.Get(HeaderSignature) == "" {
		t.Fatalf("Key.Sign %q, Sign %q", a.Header.Get(HeaderSignature), b.Header.Get(HeaderSignature))
	}
}

// FuzzSignFast: on any key id, nonce, extra component and times, what
// Sign writes without httpsfv is httpsfv's serialization, and what it
// declines httpsfv refuses too.
func FuzzSignFast(f *testing.F) {
	f.Add("ps_abcdefgh", "n-1", "content-type", int64(1_700_000_000), int64(0))
	f.Add(`q"\`, "é", "x\ty", int64(-1), int64(1_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, keyID, nonce, comp string, created, expires int64) {
		p := SignParams{KeyID: keyID, Nonce: nonce}
		if expires != 0 {
			p.Expires = time.Unix(expires, 0)
		}
		c := append(append([]string(nil), DefaultComponents...), comp)
		fast, ok := signatureParamsFast(c, time.Unix(created, 0), p)
		want, err := httpsfv.Marshal(inputList(c, time.Unix(created, 0), p))
		if ok && (err != nil || fast != want) {
			t.Fatalf("fast %q, httpsfv %q (%v)", fast, want, err)
		}
		if !ok && err == nil {
			t.Fatalf("fast path declined what httpsfv serializes: %q", want)
		}
	})
}
