package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"time"

	"github.com/dunglas/httpsfv"
)

// DefaultComponents are what Sign covers unless told otherwise: what the
// gateway requires of a request with a body.
var DefaultComponents = []string{"@method", "@target-uri", "content-type", "content-digest"}

// DefaultLabel is the signature's label when SignParams.Label is empty.
const DefaultLabel = "sig1"

// SignParams are the signature parameters of Sign.
type SignParams struct {
	KeyID      string    // the API key's public prefix (ps_xxxxxxxx)
	Created    time.Time // zero: now
	Expires    time.Time // zero: no expires parameter
	Nonce      string    // "": no nonce (then only the created window limits a replay)
	Label      string    // "": DefaultLabel
	Components []string  // nil: DefaultComponents
}

// Sign signs r with secret: when body is not nil it sets Content-Digest to the
// sha-256 of body (the bytes as sent, after any Content-Encoding), then it sets
// Signature-Input and Signature. r.URL must be absolute (a client request).
// A producer signing many requests with one secret should keep a Key and
// call its Sign.
func Sign(r *http.Request, body []byte, secret []byte, p SignParams) error {
	return sign(r, body, p, func(b []byte) []byte { return mac(secret, b) })
}

// Sign is Sign with k's secret, reusing its HMAC states.
func (k *Key) Sign(r *http.Request, body []byte, p SignParams) error {
	return sign(r, body, p, k.sum)
}

func sign(r *http.Request, body []byte, p SignParams, mac func([]byte) []byte) error {
	if body != nil {
		r.Header.Set(HeaderContentDigest, ContentDigest(body))
	}
	comps := p.Components
	if comps == nil {
		comps = DefaultComponents
	}
	created := p.Created
	if created.IsZero() {
		created = time.Now()
	}
	label := p.Label
	if label == "" {
		label = DefaultLabel
	}
	if params, ok := signatureParamsFast(comps, created, p); ok && isKey(label) {
		return signFast(r, label, Signature{Components: comps, params: params}, mac)
	}
	input := inputList(comps, created, p)
	b, err := base(FromClient(r), Signature{Components: comps, input: input})
	if err != nil {
		return err
	}
	return setFields(r.Header, label, input, mac([]byte(b)))
}

// inputList is Sign's inner list of components and parameters for httpsfv.
func inputList(comps []string, created time.Time, p SignParams) httpsfv.InnerList {
	input := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range comps {
		input.Items = append(input.Items, httpsfv.NewItem(c))
	}
	input.Params.Add("created", created.Unix())
	input.Params.Add("keyid", p.KeyID)
	input.Params.Add("alg", Algorithm)
	if !p.Expires.IsZero() {
		input.Params.Add("expires", p.Expires.Unix())
	}
	if p.Nonce != "" {
		input.Params.Add("nonce", p.Nonce)
	}
	return input
}

// signFast sets the fields of s, whose parameters are already serialized
// (signatureParamsFast), building the base into a pooled buffer.
func signFast(r *http.Request, label string, s Signature, mac func([]byte) []byte) error {
	bp := bases.Get().(*[]byte)
	b, err := appendBase((*bp)[:0], FromClient(r), s)
	var sig []byte
	if err == nil {
		sig = mac(b)
	}
	if cap(b) <= maxPooledBase {
		*bp = b
		bases.Put(bp)
	}
	if err != nil {
		return err
	}
	r.Header.Set(HeaderSignatureInput, label+"="+s.params)
	r.Header.Set(HeaderSignature, label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nil
}

// signatureParamsFast serializes Sign's inner list of components and
// parameters as httpsfv does (TestSignFastMatchesHttpsfv), or returns false
// for anything it does not write plainly (a string with a character outside
// printable ASCII, an integer beyond 15 digits): Sign then uses httpsfv.
func signatureParamsFast(comps []string, created time.Time, p SignParams) (string, bool) {
	b := make([]byte, 0, 160)
	b = append(b, '(')
	ok := true
	for i, c := range comps {
		if i > 0 {
			b = append(b, ' ')
		}
		b, ok = appendSFString(b, c, ok)
	}
	b = append(b, ')')
	b, ok = appendSFInt(append(b, ";created="...), created.Unix(), ok)
	b, ok = appendSFString(append(b, ";keyid="...), p.KeyID, ok)
	b, ok = appendSFString(append(b, ";alg="...), Algorithm, ok)
	if !p.Expires.IsZero() {
		b, ok = appendSFInt(append(b, ";expires="...), p.Expires.Unix(), ok)
	}
	if p.Nonce != "" {
		b, ok = appendSFString(append(b, ";nonce="...), p.Nonce, ok)
	}
	return string(b), ok
}

// appendSFString appends s as a structured-field string (RFC 8941 §4.1.6),
// ok only if it was (every byte printable ASCII) and ok was.
func appendSFString(b []byte, s string, ok bool) ([]byte, bool) {
	b = append(b, '"')
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			ok = false
		}
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"'), ok
}

// appendSFInt appends v as a structured-field integer (at most 15 digits),
// ok only if it was and ok was.
func appendSFInt(b []byte, v int64, ok bool) ([]byte, bool) {
	return strconv.AppendInt(b, v, 10), ok && v >= -999_999_999_999_999 && v <= 999_999_999_999_999
}

func setFields(h http.Header, label string, input httpsfv.InnerList, sig []byte) error {
	in, sg := httpsfv.NewDictionary(), httpsfv.NewDictionary()
	in.Add(label, input)
	sg.Add(label, httpsfv.NewItem(sig))
	inStr, err := httpsfv.Marshal(in)
	if err != nil {
		return fmt.Errorf("serialize Signature-Input: %w", err)
	}
	sgStr, err := httpsfv.Marshal(sg)
	if err != nil {
		return fmt.Errorf("serialize Signature: %w", err)
	}
	h.Set(HeaderSignatureInput, inStr)
	h.Set(HeaderSignature, sgStr)
	return nil
}

// ContentDigest returns the Content-Digest value (RFC 9530) of body: its
// sha-256.
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// digesters are the algorithms of Content-Digest that are checked.
var digesters = map[string]func() hash.Hash{"sha-256": sha256.New, "sha-512": sha512.New}

// CheckDigest checks the Content-Digest field of h against body (the bytes
// as received, before any Content-Encoding is undone): it must hold a sha-256
// (or sha-512) member, and every member of those algorithms must match.
// Anything else is CodeDigest.
func CheckDigest(h http.Header, body []byte) error {
	vals := h.Values(HeaderContentDigest)
	if len(vals) == 1 && digestFast(vals[0], body) {
		return nil
	}
	return checkDigestFields(vals, body)
}

// checkDigestFields is CheckDigest by httpsfv, for any shape.
func checkDigestFields(vals []string, body []byte) error {
	if len(vals) == 0 {
		return fail(CodeDigest, "send Content-Digest: sha-256=:<base64 of the body's SHA-256>:")
	}
	d, err := httpsfv.UnmarshalDictionary(vals)
	if err != nil {
		return fail(CodeDigest, "Content-Digest is not a structured-field dictionary: %v", err)
	}
	checked := 0
	for _, alg := range d.Names() {
		newHash, known := digesters[alg]
		if !known {
			continue
		}
		m, _ := d.Get(alg)
		it, ok := m.(httpsfv.Item)
		want, isBytes := it.Value.([]byte)
		if !ok || !isBytes {
			return fail(CodeDigest, "Content-Digest %s must be a byte sequence", alg)
		}
		hh := newHash()
		hh.Write(body)
		if subtle.ConstantTimeCompare(hh.Sum(nil), want) != 1 {
			return fail(CodeDigest, "Content-Digest %s does not match the body as received", alg)
		}
		checked++
	}
	if checked == 0 {
		return fail(CodeDigest, "Content-Digest holds no sha-256 or sha-512 digest")
	}
	return nil
}
