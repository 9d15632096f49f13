package httpsig

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchRequest is a single bench-shaped event and its request.
func benchRequest() ([]byte, *http.Request) {
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"bench","source":"/bench","data":{"pad":"` + strings.Repeat("x", 280) + `"}}`)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return body, req
}

// BenchmarkSign is what a producer pays per request: the body's
// Content-Digest, the signature base and its HMAC, both fields serialized.
func BenchmarkSign(b *testing.B) {
	body, req := benchRequest()
	secret := []byte("pss_benchmark-secret")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := Sign(req, body, secret, SignParams{KeyID: "ps_abcdefgh", Nonce: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is what a verifier pays per signed single event:
// parsing both fields, checking the signature and the body's digest.
func BenchmarkVerify(b *testing.B) { benchVerify(b, false) }

// BenchmarkVerifyKey is BenchmarkVerify with the secret's HMAC state kept
// (Policy.Key), as the gateway checks.
func BenchmarkVerifyKey(b *testing.B) { benchVerify(b, true) }

func benchVerify(b *testing.B, keep bool) {
	body := []byte(`{"specversion":"1.0","id":"e-1","type":"bench","source":"/bench","data":{"pad":"` + strings.Repeat("x", 280) + `"}}`)
	secret := []byte("pss_benchmark-secret")
	out, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/v1/events", bytes.NewReader(body))
	out.Header.Set("Content-Type", "application/json")
	if err := Sign(out, body, secret, SignParams{KeyID: "ps_abcdefgh", Nonce: "n1"}); err != nil {
		b.Fatal(err)
	}
	in, _ := http.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	in.RequestURI, in.Host, in.Header = "/v1/events", "127.0.0.1:8080", out.Header
	pol := Policy{KeyID: "ps_abcdefgh", Secret: secret, Now: time.Now(), Window: 5 * time.Minute, HasBody: true}
	if keep {
		pol.Key = NewKey(secret)
	}
	b.ReportAllocs()
	for b.Loop() {
		sigs, err := Parse(in.Header)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Check(FromServer(in), sigs, pol); err != nil {
			b.Fatal(err)
		}
		if err := CheckDigest(in.Header, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignKey is BenchmarkSign with the secret kept as a Key (as the
// Go client and the load generator sign).
func BenchmarkSignKey(b *testing.B) {
	body, req := benchRequest()
	key := NewKey([]byte("pss_benchmark-secret"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := key.Sign(req, body, SignParams{KeyID: "ps_abcdefgh", Nonce: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
