package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"net/http"
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
func Sign(r *http.Request, body []byte, secret []byte, p SignParams) error {
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
	b, err := base(FromClient(r), Signature{Components: comps, input: input})
	if err != nil {
		return err
	}
	label := p.Label
	if label == "" {
		label = DefaultLabel
	}
	return setFields(r.Header, label, input, mac(secret, []byte(b)))
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
	d := httpsfv.NewDictionary()
	d.Add("sha-256", httpsfv.NewItem(sum[:]))
	s, _ := httpsfv.Marshal(d) // a byte sequence under a valid key always serializes
	return s
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
