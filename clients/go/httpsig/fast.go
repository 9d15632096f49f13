package httpsig

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"
)

// parseFast reads the one shape signers send: a single signature, each
// field on one line, in canonical form (byte for byte what httpsfv
// serializes back, so the member's text after the label is the signature
// base's @signature-params), with string components only and the parameters
// created and expires (non-negative integers) and keyid, alg, nonce and tag
// (strings without escapes), each at most once. It returns ok only for a
// signature Parse would accept identically; for anything else (including
// every invalid input) it returns false and Parse falls back to httpsfv, so
// the fast path changes no outcome (TestParseFastMatchesHttpsfv,
// FuzzParseFast).
func parseFast(input, sig string) (Signature, bool) {
	label, list, ok := strings.Cut(input, "=")
	if !ok || !isKey(label) {
		return Signature{}, false
	}
	if len(sig) < len(label)+4 || sig[:len(label)] != label || sig[len(label):len(label)+2] != "=:" || sig[len(sig)-1] != ':' {
		return Signature{}, false
	}
	b64 := sig[len(label)+2 : len(sig)-1]
	if !isBase64(b64) {
		return Signature{}, false
	}
	s := Signature{Label: label, params: list}
	rest, ok := s.readComponents(list)
	if !ok || !s.readFastParams(rest) {
		return Signature{}, false
	}
	val, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(val) == 0 {
		return Signature{}, false
	}
	s.Value = val
	return s, true
}

// digestFast reports whether a Content-Digest of exactly the shape signers
// send, `sha-256=:<base64>:`, matches body. Anything else (including a
// mismatch) is false, and CheckDigest answers by httpsfv as before
// (TestDigestFastMatchesHttpsfv).
func digestFast(v string, body []byte) bool {
	b64, ok := strings.CutPrefix(v, "sha-256=:")
	if !ok || len(b64) != base64.StdEncoding.EncodedLen(sha256.Size)+1 || b64[len(b64)-1] != ':' || !isBase64(b64[:len(b64)-1]) {
		return false
	}
	var want [sha256.Size + 2]byte
	n, err := base64.StdEncoding.Decode(want[:], []byte(b64[:len(b64)-1]))
	sum := sha256.Sum256(body)
	return err == nil && subtle.ConstantTimeCompare(sum[:], want[:n]) == 1
}

// readComponents reads `("a" "b")` into s.Components and returns what
// follows the closing parenthesis.
func (s *Signature) readComponents(list string) (string, bool) {
	if !strings.HasPrefix(list, "(") {
		return "", false
	}
	list = list[1:]
	if rest, ok := strings.CutPrefix(list, ")"); ok {
		return rest, true
	}
	s.Components = make([]string, 0, strings.Count(list, `" "`)+1)
	for {
		name, rest, ok := fastString(list)
		if !ok || name == "" || len(s.Components) == MaxComponents || hasUpper(name) || s.Covers(name) {
			return "", false
		}
		s.Components = append(s.Components, name)
		if rest, ok = strings.CutPrefix(rest, ")"); ok {
			return rest, true
		}
		if list, ok = strings.CutPrefix(rest, " "); !ok {
			return "", false
		}
	}
}

// readFastParams reads `;created=1;keyid="k"...` to the end of the text.
func (s *Signature) readFastParams(p string) bool {
	var seen uint8
	for p != "" {
		if p[0] != ';' {
			return false
		}
		name, rest, ok := strings.Cut(p[1:], "=")
		if !ok || !isKey(name) {
			return false
		}
		bit, ok := s.readFastParam(name, &rest)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		p = rest
	}
	return true
}

// readFastParam reads the value of parameter name at the start of *p; bit
// tells one parameter from another.
func (s *Signature) readFastParam(name string, p *string) (uint8, bool) {
	if name == "created" || name == "expires" {
		n, rest, ok := fastInt(*p)
		*p = rest
		if name == "created" {
			s.Created = time.Unix(n, 0)
			return 1, ok
		}
		s.Expires = time.Unix(n, 0)
		return 2, ok
	}
	v, rest, ok := fastString(*p)
	*p = rest
	switch name {
	case "keyid":
		s.KeyID = v
		return 4, ok
	case "alg":
		s.Alg = v
		return 8, ok
	case "nonce":
		s.Nonce = v
		return 16, ok && v != "" && len(v) <= MaxNonceLen
	case "tag":
		return 32, ok
	}
	return 0, false
}

// fastString reads a structured-field string without escapes at the start
// of p.
func fastString(p string) (string, string, bool) {
	if !strings.HasPrefix(p, `"`) {
		return "", "", false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return p[1:i], p[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", "", false
		}
	}
	return "", "", false
}

// fastInt reads a non-negative structured-field integer in canonical form
// (no leading zero, at most 15 digits) at the start of p.
func fastInt(p string) (int64, string, bool) {
	i, n := 0, int64(0)
	for i < len(p) && i < 16 && p[i] >= '0' && p[i] <= '9' {
		n = n*10 + int64(p[i]-'0')
		i++
	}
	if i == 0 || i > 15 || i > 1 && p[0] == '0' {
		return 0, "", false
	}
	return n, p[i:], true
}

// isKey reports whether k is a structured-field key (RFC 8941 §3.1.2).
func isKey(k string) bool {
	if k == "" || !(k[0] >= 'a' && k[0] <= 'z' || k[0] == '*') {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}

// isBase64 reports whether s holds only what httpsfv's byte sequences may
// (base64.StdEncoding alone would also skip line breaks).
func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
