package httpsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// Key is a signing secret ready to verify with: its HMAC states are made
// once (hmac.New) and reused (Reset) across checks, from a pool so that
// concurrent checks never share one. Build one per secret and keep it while
// the secret is current; it is safe for concurrent use.
type Key struct {
	macs sync.Pool // of *keyedMAC
}

type keyedMAC struct {
	h   hash.Hash // keyed with the secret
	sum [sha256.Size]byte
}

// NewKey returns the Key of secret (copied).
func NewKey(secret []byte) *Key {
	secret = append([]byte(nil), secret...)
	return &Key{macs: sync.Pool{New: func() any { return &keyedMAC{h: hmac.New(sha256.New, secret)} }}}
}

// equal reports whether the HMAC-SHA256 of msg under k is sig, in constant
// time.
func (k *Key) equal(msg, sig []byte) bool {
	m := k.macs.Get().(*keyedMAC)
	defer k.macs.Put(m)
	m.h.Reset()
	m.h.Write(msg)
	return hmac.Equal(m.h.Sum(m.sum[:0]), sig)
}

// sum is the HMAC-SHA256 of msg under k (a new slice).
func (k *Key) sum(msg []byte) []byte {
	m := k.macs.Get().(*keyedMAC)
	defer k.macs.Put(m)
	m.h.Reset()
	m.h.Write(msg)
	return m.h.Sum(nil)
}

// bases are reused buffers for signature bases.
var bases = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBase bounds the buffers kept: a request that covers huge fields
// does not pin their size in the pool.
const maxPooledBase = 16 << 10

// verifyMAC builds the signature base of r for s into a pooled buffer and
// compares its HMAC with s.Value.
func (pol Policy) verifyMAC(r Request, s Signature) error {
	bp := bases.Get().(*[]byte)
	b, err := appendBase((*bp)[:0], r, s)
	ok := err == nil && pol.equal(b, s.Value)
	if cap(b) <= maxPooledBase {
		*bp = b
		bases.Put(bp)
	}
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodeInvalid, "the signature does not match the request")
	}
	return nil
}

// equal compares the HMAC of msg with sig under pol.Key, or pol.Secret.
func (pol Policy) equal(msg, sig []byte) bool {
	if pol.Key != nil {
		return pol.Key.equal(msg, sig)
	}
	return hmac.Equal(mac(pol.Secret, msg), sig)
}
