package httpsig

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// Bounds on what a request may send, so that parsing and checking stay cheap
// whatever it sends.
const (
	MaxSignatures = 8   // labels in Signature-Input
	MaxComponents = 32  // covered components of one signature
	MaxNonceLen   = 256 // bytes
)

// Signature is one parsed member of Signature-Input with its Signature value.
type Signature struct {
	Label      string
	Components []string // covered component names, in order
	KeyID      string
	Alg        string    // "" when not sent
	Created    time.Time // zero when not sent
	Expires    time.Time // zero when not sent
	Nonce      string    // "" when not sent
	Value      []byte    // the signature bytes

	input  httpsfv.InnerList // as httpsfv parsed it (not set by the fast path)
	params string            // the serialized input, when the fast path parsed it
}

// Present reports whether h carries either signature field with a value
// (an empty field counts as absent).
func Present(h http.Header) bool {
	return h.Get(HeaderSignatureInput) != "" || h.Get(HeaderSignature) != ""
}

// Parse reads Signature-Input and Signature. Missing fields are CodeMissing;
// malformed ones, labels present in one field only, or members of the wrong
// shape are CodeInvalid.
func Parse(h http.Header) ([]Signature, error) {
	inVals, sigVals := h.Values(HeaderSignatureInput), h.Values(HeaderSignature)
	if len(inVals) == 0 || len(sigVals) == 0 {
		return nil, fail(CodeMissing, "sign the request: send Signature-Input and Signature (RFC 9421, %s)", Algorithm)
	}
	if len(inVals) == 1 && len(sigVals) == 1 {
		if s, ok := parseFast(inVals[0], sigVals[0]); ok {
			return []Signature{s}, nil
		}
	}
	return parseFields(inVals, sigVals)
}

// parseFields is Parse by httpsfv, for any shape.
func parseFields(inVals, sigVals []string) ([]Signature, error) {
	inputs, err := httpsfv.UnmarshalDictionary(inVals)
	if err != nil {
		return nil, fail(CodeInvalid, "Signature-Input is not a structured-field dictionary: %v", err)
	}
	sigs, err := httpsfv.UnmarshalDictionary(sigVals)
	if err != nil {
		return nil, fail(CodeInvalid, "Signature is not a structured-field dictionary: %v", err)
	}
	labels := inputs.Names()
	if len(labels) == 0 {
		return nil, fail(CodeMissing, "Signature-Input holds no signature")
	}
	if len(labels) > MaxSignatures || len(sigs.Names()) != len(labels) {
		return nil, fail(CodeInvalid, "Signature-Input and Signature must hold the same labels, at most %d", MaxSignatures)
	}
	out := make([]Signature, 0, len(labels))
	for _, label := range labels {
		s, err := parseOne(label, inputs, sigs)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseOne(label string, inputs, sigs *httpsfv.Dictionary) (Signature, error) {
	in, _ := inputs.Get(label)
	list, ok := in.(httpsfv.InnerList)
	if !ok {
		return Signature{}, fail(CodeInvalid, "Signature-Input %q must be an inner list of components", label)
	}
	sm, ok := sigs.Get(label)
	item, isItem := sm.(httpsfv.Item)
	if !ok || !isItem {
		return Signature{}, fail(CodeInvalid, "Signature has no byte sequence for label %q", label)
	}
	val, ok := item.Value.([]byte)
	if !ok || len(val) == 0 {
		return Signature{}, fail(CodeInvalid, "Signature %q must be a byte sequence", label)
	}
	if len(list.Items) > MaxComponents {
		return Signature{}, fail(CodeInvalid, "signature %q covers more than %d components", label, MaxComponents)
	}
	s := Signature{Label: label, Value: val, input: list}
	for _, it := range list.Items {
		name, ok := it.Value.(string)
		if !ok || name == "" || len(it.Params.Names()) > 0 || name != strings.ToLower(name) {
			return Signature{}, fail(CodeInvalid, "signature %q: components must be lowercase strings without parameters", label)
		}
		if slices.Contains(s.Components, name) {
			return Signature{}, fail(CodeInvalid, "signature %q covers %q twice", label, name)
		}
		s.Components = append(s.Components, name)
	}
	return s, s.readParams(list.Params)
}

// readParams reads the signature parameters RFC 9421 §2.3 defines; any other
// parameter is refused.
func (s *Signature) readParams(p *httpsfv.Params) error {
	for _, name := range p.Names() {
		v, _ := p.Get(name)
		var ok bool
		switch name {
		case "created", "expires":
			var n int64
			if n, ok = v.(int64); ok && n >= 0 {
				t := time.Unix(n, 0)
				if name == "created" {
					s.Created = t
				} else {
					s.Expires = t
				}
			}
		case "keyid":
			s.KeyID, ok = v.(string)
		case "alg":
			s.Alg, ok = v.(string)
		case "nonce":
			s.Nonce, ok = v.(string)
			ok = ok && s.Nonce != "" && len(s.Nonce) <= MaxNonceLen
		case "tag":
			_, ok = v.(string)
		default:
			return fail(CodeInvalid, "signature %q has the unknown parameter %q", s.Label, name)
		}
		if !ok {
			return fail(CodeInvalid, "signature %q: parameter %q has the wrong type or value", s.Label, name)
		}
	}
	return nil
}

// Covers reports whether the signature covers component name.
func (s Signature) Covers(name string) bool { return slices.Contains(s.Components, name) }

// signatureParams is the @signature-params value: the Signature-Input
// member as sent when the fast path parsed it (canonical, so identical), else
// httpsfv's serialization of it.
func (s Signature) signatureParams() (string, error) {
	if s.params != "" {
		return s.params, nil
	}
	return httpsfv.Marshal(s.input)
}

// appendBase appends the signature base (RFC 9421 §2.5) of r for s's
// covered components and parameters to b, or returns CodeInvalid when a
// component is unknown or absent from r.
func appendBase(b []byte, r Request, s Signature) ([]byte, error) {
	for _, name := range s.Components {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `": `...)
		start := len(b)
		var ok bool
		if b, ok = r.appendDerived(b, name); !ok && strings.HasPrefix(name, "@") {
			return b, fail(CodeInvalid, "the component %q is not supported", name)
		}
		if !ok {
			if b, ok = r.appendField(b, name); !ok {
				return b, fail(CodeInvalid, "the covered field %q is not in the request", name)
			}
		}
		if bytes.ContainsAny(b[start:], "\r\n") {
			return b, fail(CodeInvalid, "the covered component %q holds a line break", name)
		}
		b = append(b, '\n')
	}
	params, err := s.signatureParams()
	if err != nil {
		return b, fail(CodeInvalid, "the signature parameters cannot be serialized: %v", err)
	}
	b = append(b, `"@signature-params": `...)
	return append(b, params...), nil
}

// Policy is what Check requires of a signature beyond its being valid.
type Policy struct {
	KeyID  string        // the signature's keyid must be this
	Secret []byte        // the HMAC key (used when Key is nil)
	Key    *Key          // the HMAC key, its state kept across checks
	Now    time.Time     // the verifier's clock
	Window time.Duration // |Now - created| must be at most this
	// HasBody: the request carries content, so content-digest and
	// content-type must be covered.
	HasBody bool
}

// Check selects the signature whose keyid is pol.KeyID among sigs and checks
// it: algorithm, that created is present and within the window (and expires
// not passed: else CodeExpired), that the components ingest needs are
// covered, and the HMAC over r. The body's digest is CheckDigest's job, after
// this succeeded (so an unsigned body is never hashed).
func Check(r Request, sigs []Signature, pol Policy) (Signature, error) {
	i := slices.IndexFunc(sigs, func(s Signature) bool { return s.KeyID == pol.KeyID })
	if i < 0 {
		return Signature{}, fail(CodeInvalid, "no signature has keyid %q (the API key's public prefix)", pol.KeyID)
	}
	s := sigs[i]
	if s.Alg != "" && s.Alg != Algorithm {
		return Signature{}, fail(CodeInvalid, "alg %q is not accepted: use %s", s.Alg, Algorithm)
	}
	if err := s.checkTimes(pol); err != nil {
		return Signature{}, err
	}
	if err := s.checkCoverage(r, pol.HasBody); err != nil {
		return Signature{}, err
	}
	if err := pol.verifyMAC(r, s); err != nil {
		return Signature{}, err
	}
	return s, nil
}

func (s Signature) checkTimes(pol Policy) error {
	if s.Created.IsZero() {
		return fail(CodeInvalid, "the signature has no created parameter")
	}
	if d := pol.Now.Sub(s.Created); d > pol.Window || d < -pol.Window {
		return fail(CodeExpired, "created is %s away from the gateway's clock; at most %s is accepted", d.Abs().Truncate(time.Second), pol.Window)
	}
	if !s.Expires.IsZero() && !pol.Now.Before(s.Expires) {
		return fail(CodeExpired, "the signature expired at %s", s.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkCoverage requires @method, the target (@target-uri, or @authority
// with @path, and @query when a query was sent), and for a request with
// content its Content-Digest and Content-Type.
func (s Signature) checkCoverage(r Request, hasBody bool) error {
	var buf [6]string
	need := append(buf[:0], "@method")
	if !s.Covers("@target-uri") {
		need = append(need, "@authority", "@path")
		if r.HasQuery && !s.Covers("@request-target") {
			need = append(need, "@query")
		}
	}
	if hasBody {
		need = append(need, "content-digest", "content-type")
	}
	for _, n := range need {
		if n == "@path" && s.Covers("@request-target") {
			continue
		}
		if !s.Covers(n) {
			return fail(CodeInvalid, "the signature must cover %q (covered: %s)", n, strings.Join(s.Components, " "))
		}
	}
	return nil
}
