// Package cursor encodes the opaque keyset cursors of the search API.
//
// A cursor carries the last row's position, (event_time, external_id), and a
// digest of the query it belongs to (tenant, filters and order), and is
// signed with HMAC-SHA256 under a server key (crypto/hmac from the standard
// library; no third-party token format is needed for 60 bytes). A cursor
// that was altered, forged without the key, issued for another tenant or for
// another query is refused.
//
// Layout before base64url (no padding):
//
//	version(1) | query digest(16) | event_time unix µs (8, big endian) | external id | tag(16)
//
// where tag is the first 16 bytes of HMAC-SHA256(key, everything before it).
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

const (
	version   byte = 1
	digestLen      = 16
	tagLen         = 16
	headerLen      = 1 + digestLen + 8
	// MaxLen bounds an encoded cursor; longer input is refused before decoding.
	MaxLen = 2048
)

// Errors Decode returns; the API maps each to a 400 on the cursor parameter.
var (
	// ErrMalformed: not a cursor this service could have issued (bad
	// encoding, wrong length or version, bad signature).
	ErrMalformed = errors.New("malformed cursor")
	// ErrOtherQuery: a genuine cursor, issued for another tenant or another
	// set of filters.
	ErrOtherQuery = errors.New("cursor belongs to another query")
)

// Position is where a page ended: the last row's sort key.
type Position struct {
	Time       time.Time
	ExternalID string
}

// Codec signs and checks cursors with one key.
type Codec struct {
	key []byte
}

// NewCodec returns a codec signing with key (at least 32 bytes).
func NewCodec(key []byte) (*Codec, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("cursor key: need at least 32 bytes, got %d", len(key))
	}
	return &Codec{key: append([]byte(nil), key...)}, nil
}

// Digest identifies a query: pass the tenant and a canonical rendering of
// its filters and order.
func Digest(parts ...string) [digestLen]byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var d [digestLen]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (c *Codec) tag(b []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)[:tagLen]
}

// Encode returns the cursor for position p of the query with digest d.
func (c *Codec) Encode(d [digestLen]byte, p Position) string {
	b := make([]byte, 0, headerLen+len(p.ExternalID)+tagLen)
	b = append(b, version)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Time.UnixMicro()))
	b = append(b, p.ExternalID...)
	b = append(b, c.tag(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode checks s and returns its position if it was issued by this key for
// the query with digest d.
func (c *Codec) Decode(d [digestLen]byte, s string) (Position, error) {
	if len(s) > MaxLen {
		return Position{}, fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Position{}, fmt.Errorf("%w: not base64url", ErrMalformed)
	}
	if len(b) < headerLen+tagLen || b[0] != version {
		return Position{}, fmt.Errorf("%w: wrong length or version", ErrMalformed)
	}
	body, tag := b[:len(b)-tagLen], b[len(b)-tagLen:]
	if !hmac.Equal(tag, c.tag(body)) {
		return Position{}, fmt.Errorf("%w: bad signature", ErrMalformed)
	}
	if !hmac.Equal(body[1:1+digestLen], d[:]) {
		return Position{}, ErrOtherQuery
	}
	us := int64(binary.BigEndian.Uint64(body[1+digestLen : headerLen]))
	return Position{Time: time.UnixMicro(us).UTC(), ExternalID: string(body[headerLen:])}, nil
}
