package httpsig

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the shared secret "test-shared-secret" of RFC 9421 Appendix B.1.5.
const rfcSecret = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="

// rfcRequest is the test request of RFC 9421 Appendix B.2, as a server receives it.
func rfcRequest(t testing.TB) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/foo?param=Value&Pet=dog", strings.NewReader(`{"hello": "world"}`))
	r.Host = "example.com"
	r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	return r
}

// TestRFC9421HMACExample checks the signature base and HMAC against RFC 9421
// Appendix B.2.5 (an independent source: the RFC's own worked example).
func TestRFC9421HMACExample(t *testing.T) {
	r := rfcRequest(t)
	r.Header.Set(HeaderSignatureInput, `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`)
	r.Header.Set(HeaderSignature, `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`)
	sigs, err := Parse(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base64.StdEncoding.DecodeString(rfcSecret)
	b, err := base(FromServer(r), sigs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n" +
		`"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
	if b != want {
		t.Fatalf("base:\n%s\nwant:\n%s", b, want)
	}
	if got := mac(secret, []byte(b)); string(got) != string(sigs[0].Value) {
		t.Fatalf("hmac %x, RFC says %x", got, sigs[0].Value)
	}
	if err := CheckDigest(r.Header, []byte(`{"hello": "world"}`)); err != nil {
		t.Fatalf("RFC 9530 sha-512 example: %v", err)
	}
	if got := ContentDigest([]byte(`{"hello": "world"}`)); got != "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" {
		t.Fatalf("RFC 9530 sha-256 example: %s", got)
	}
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "<not an *Error: " + err.Error() + ">"
}

// signed returns a request signed as a client would, re-read as a server gets it.
func signed(t testing.TB, body string, p SignParams, secret []byte) *http.Request {
	t.Helper()
	out, err := http.NewRequest(http.MethodPost, "http://gw.example:8080/v1/events?x=1", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out.Header.Set("Content-Type", "application/json")
	if err := Sign(out, []byte(body), secret, p); err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, "/v1/events?x=1", strings.NewReader(body))
	in.Host = "GW.example:8080"
	in.Header = out.Header.Clone()
	return in
}

func TestSignThenCheck(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	pol := Policy{KeyID: "ps_abcdefgh", Secret: secret, Now: now, Window: 5 * time.Minute, HasBody: true}
	ok := SignParams{KeyID: "ps_abcdefgh", Created: now.Add(-time.Minute), Nonce: "n-1"}
	cases := []struct {
		name   string
		params SignParams
		secret []byte
		mutate func(r *http.Request)
		code   string
	}{
		{"valid", ok, secret, nil, ""},
		{"wrong secret", ok, []byte("another secret"), nil, CodeInvalid},
		{"method changed", ok, secret, func(r *http.Request) { r.Method = http.MethodPut }, CodeInvalid},
		{"path changed", ok, secret, func(r *http.Request) { r.RequestURI = "/v1/other?x=1" }, CodeInvalid},
		{"query changed", ok, secret, func(r *http.Request) { r.RequestURI = "/v1/events?x=2" }, CodeInvalid},
		{"host changed", ok, secret, func(r *http.Request) { r.Host = "evil.example:8080" }, CodeInvalid},
		{"content-type changed", ok, secret, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-ndjson") }, CodeInvalid},
		{"digest changed", ok, secret, func(r *http.Request) { r.Header.Set(HeaderContentDigest, ContentDigest([]byte("other"))) }, CodeInvalid},
		{"keyid of another key", SignParams{KeyID: "ps_zzzzzzzz", Created: ok.Created}, secret, nil, CodeInvalid},
		{"stale", SignParams{KeyID: ok.KeyID, Created: now.Add(-6 * time.Minute)}, secret, nil, CodeExpired},
		{"from the future", SignParams{KeyID: ok.KeyID, Created: now.Add(6 * time.Minute)}, secret, nil, CodeExpired},
		{"expired", SignParams{KeyID: ok.KeyID, Created: ok.Created, Expires: now.Add(-time.Second)}, secret, nil, CodeExpired},
		{"digest not covered", SignParams{KeyID: ok.KeyID, Created: ok.Created, Components: []string{"@method", "@target-uri", "content-type"}}, secret, nil, CodeInvalid},
		{"target not covered", SignParams{KeyID: ok.KeyID, Created: ok.Created, Components: []string{"@method", "content-type", "content-digest"}}, secret, nil, CodeInvalid},
		{"authority+path+query", SignParams{KeyID: ok.KeyID, Created: ok.Created, Components: []string{"@method", "@authority", "@path", "@query", "content-type", "content-digest"}}, secret, nil, ""},
		{"authority+path without query", SignParams{KeyID: ok.KeyID, Created: ok.Created, Components: []string{"@method", "@authority", "@path", "content-type", "content-digest"}}, secret, nil, CodeInvalid},
		{"signature removed", ok, secret, func(r *http.Request) { r.Header.Del(HeaderSignature) }, CodeMissing},
		{"malformed input", ok, secret, func(r *http.Request) { r.Header.Set(HeaderSignatureInput, "sig1=(") }, CodeInvalid},
		{"unknown alg", ok, secret, func(r *http.Request) {
			r.Header.Set(HeaderSignatureInput, strings.Replace(r.Header.Get(HeaderSignatureInput), Algorithm, "ed25519", 1))
		}, CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t, `{"id":"1","type":"t"}`, tc.params, tc.secret)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			sigs, err := Parse(r.Header)
			if err == nil {
				_, err = Check(FromServer(r), sigs, pol)
			}
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && codeOf(err) != tc.code:
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

func TestCheckDigest(t *testing.T) {
	body := []byte(`{"id":"1"}`)
	h := http.Header{}
	h.Set(HeaderContentDigest, ContentDigest(body))
	if err := CheckDigest(h, body); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		digest string
		body   []byte
	}{
		"body changed":      {ContentDigest(body), []byte(`{"id":"2"}`)},
		"missing":           {"", body},
		"unknown algorithm": {"md5=:AAAA:", body},
		"not a dictionary":  {"sha-256", body},
		"not bytes":         {`sha-256="abc"`, body},
	} {
		h := http.Header{}
		if tc.digest != "" {
			h.Set(HeaderContentDigest, tc.digest)
		}
		if err := CheckDigest(h, tc.body); codeOf(err) != CodeDigest {
			t.Errorf("%s: got %v, want %s", name, err, CodeDigest)
		}
	}
}
