// Package httpsig signs and verifies HTTP requests the way PulseStream's
// ingest API accepts them: RFC 9421 HTTP Message Signatures with the
// hmac-sha256 algorithm, the body bound through an RFC 9530 Content-Digest
// (sha-256; sha-512 is also checked when sent) over the bytes as sent, before
// any Content-Encoding is undone.
//
// It holds both sides of the contract so that they cannot drift: Sign (what
// the Go client and the tests send) and Parse/Check/CheckDigest (what the
// gateway verifies), proven against an independent implementation (the PyPI
// package http-message-signatures) in the gateway's interoperability tests.
// It lives in the Go client's module (which depends on nothing else of
// PulseStream) so that producers get the signer without the services'
// dependencies; the gateway imports it from here.
//
// Only what ingest needs of RFC 9421 is implemented, so the verifier stays
// small: the derived components @method, @target-uri, @authority, @scheme,
// @request-target, @path and @query, and plain HTTP fields; component
// parameters (sf, key, bs, req, tr, @query-param) are refused as invalid.
// Structured fields (RFC 8941/9651) are parsed and serialized by
// github.com/dunglas/httpsfv, a maintained, dependency-free library that runs
// the HTTP WG's official test suite. The one shape signers send (a single
// signature, canonical, one line per field; a lone sha-256 Content-Digest)
// is also read by a small fast path (fast.go) that accepts only what httpsfv
// reads identically and hands everything else to httpsfv, so no outcome
// depends on it (differential tests and fuzz targets against httpsfv); it
// spares the gateway httpsfv's allocations on every signed request.
package httpsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
)

// Algorithm is the only signature algorithm accepted (RFC 9421 §3.3.3).
const Algorithm = "hmac-sha256"

// Header names.
const (
	HeaderSignatureInput = "Signature-Input"
	HeaderSignature      = "Signature"
	HeaderContentDigest  = "Content-Digest"
)

// Codes of refused signatures: the machine-readable codes of the gateway's
// 401 answers. Clients switch on them; they are part of the API.
const (
	CodeMissing  = "signature_missing"
	CodeInvalid  = "signature_invalid"
	CodeExpired  = "signature_expired"
	CodeDigest   = "digest_mismatch"
	CodeReplayed = "signature_replayed"
)

// Error says why a request's signature was refused; Code is one of the Code*
// constants.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Request is what a signature covers of an HTTP request. FromClient and
// FromServer build it from each side's *http.Request, which name these parts
// differently.
type Request struct {
	Method    string
	Scheme    string // "http" or "https"
	Authority string // host[:port], lowercase, without the scheme's default port
	Path      string // escaped, as sent; "/" when empty
	Query     string // raw query without '?'
	HasQuery  bool   // a '?' was sent (perhaps with an empty query)
	Header    http.Header
}

// FromClient describes a request about to be sent (r.URL is absolute).
func FromClient(r *http.Request) Request {
	u := r.URL
	host := r.Host
	if host == "" {
		host = u.Host
	}
	return Request{Method: r.Method, Scheme: strings.ToLower(u.Scheme), Authority: authority(u.Scheme, host),
		Path: u.EscapedPath(), Query: u.RawQuery, HasQuery: u.RawQuery != "" || u.ForceQuery, Header: r.Header}
}

// FromServer describes a received request: the request target exactly as
// sent (r.RequestURI), the Host header, and the scheme of the connection
// (https when it is TLS). Behind a proxy that terminates TLS, clients should
// cover @authority and @path instead of @target-uri.
func FromServer(r *http.Request) Request {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	target := r.RequestURI
	if i := strings.Index(target, "://"); i >= 0 { // absolute-form: keep the path and query
		rest := target[i+3:]
		target = "/"
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			target = rest[j:]
		}
	}
	path, query, hasQuery := strings.Cut(target, "?")
	return Request{Method: r.Method, Scheme: scheme, Authority: authority(scheme, r.Host),
		Path: path, Query: query, HasQuery: hasQuery, Header: r.Header}
}

// authority normalizes host[:port] as RFC 9421 §2.2.3 asks: lowercase, and
// without the scheme's default port.
func authority(scheme, host string) string {
	host = strings.ToLower(host)
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.Contains(port, ":") && !strings.HasPrefix(host, "[") {
		if strings.TrimLeft(port, "0") == defaultPort(scheme) {
			return h
		}
	}
	if strings.HasPrefix(host, "[") {
		if i := strings.LastIndex(host, "]:"); i >= 0 && strings.TrimLeft(host[i+2:], "0") == defaultPort(scheme) {
			return host[:i+1]
		}
	}
	return host
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

func (r Request) path() string {
	if r.Path == "" {
		return "/"
	}
	return r.Path
}

func (r Request) appendQuerySuffix(b []byte) []byte {
	if !r.HasQuery {
		return b
	}
	return append(append(b, '?'), r.Query...)
}

// appendDerived appends the value of a derived component (RFC 9421 §2.2).
func (r Request) appendDerived(b []byte, name string) ([]byte, bool) {
	switch name {
	case "@method":
		return append(b, r.Method...), true
	case "@target-uri":
		b = append(append(append(b, r.Scheme...), "://"...), r.Authority...)
		return r.appendQuerySuffix(append(b, r.path()...)), true
	case "@authority":
		return append(b, r.Authority...), true
	case "@scheme":
		return append(b, r.Scheme...), true
	case "@request-target":
		return r.appendQuerySuffix(append(b, r.path()...)), true
	case "@path":
		return append(b, r.path()...), true
	case "@query":
		return append(append(b, '?'), r.Query...), true
	}
	return b, false
}

// canonical holds the canonical form of fields signatures commonly cover.
var canonical = map[string]string{"content-type": "Content-Type", "content-digest": "Content-Digest",
	"content-length": "Content-Length", "content-encoding": "Content-Encoding", "date": "Date"}

// appendField appends an HTTP field's value as RFC 9421 §2.1 covers it:
// every line's value trimmed, joined with ", ".
func (r Request) appendField(b []byte, name string) ([]byte, bool) {
	if c, ok := canonical[name]; ok {
		name = c // spares Values the canonicalization's allocation
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return b, false
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, strings.TrimSpace(v)...)
	}
	return b, true
}

// base returns the signature base of r for s (see appendBase).
func base(r Request, s Signature) (string, error) {
	b, err := appendBase(make([]byte, 0, 512), r, s)
	return string(b), err
}

// mac is HMAC-SHA256 of the signature base with secret.
func mac(secret, base []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(base)
	return m.Sum(nil)
}
