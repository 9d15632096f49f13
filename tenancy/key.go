package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// An API key reads ps_<prefix>_<secret>:
//
//   - "ps_" marks it as a PulseStream key (secret scanners can match on it);
//   - prefix is 8 lowercase base32 characters (40 random bits), public: it is
//     stored in clear, shown in listings and audit entries, and finds the row;
//   - secret is 52 lowercase base32 characters encoding 32 random bytes.
//
// Only SHA-256 of the whole key string is stored. Base32 (RFC 4648, lowercase,
// no padding) keeps the key to [a-z2-7_], so it survives copy-paste,
// double-click selection, URLs and shell quoting.
const (
	keyMarker     = "ps_"
	prefixChars   = 8
	secretBytes   = 32
	secretChars   = 52 // base32 of 32 bytes, unpadded
	publicPrefLen = len(keyMarker) + prefixChars
	keyLen        = publicPrefLen + 1 + secretChars
)

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// KeyHash is the SHA-256 of a raw key: the only form a key is stored in.
type KeyHash [sha256.Size]byte

// HashKey returns the stored form of rawKey.
func HashKey(rawKey string) KeyHash { return sha256.Sum256([]byte(rawKey)) }

// NewRawKey returns a fresh random key and its public prefix ("ps_xxxxxxxx").
func NewRawKey() (raw, prefix string, err error) {
	var b [5 + secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("random key: %w", err)
	}
	prefix = keyMarker + keyEncoding.EncodeToString(b[:5])
	return prefix + "_" + keyEncoding.EncodeToString(b[5:]), prefix, nil
}

// ParseKey checks rawKey's shape and returns its public prefix. It says
// nothing about whether the key exists; a malformed key never reaches the
// store.
func ParseKey(rawKey string) (prefix string, ok bool) {
	if len(rawKey) != keyLen || !strings.HasPrefix(rawKey, keyMarker) || rawKey[publicPrefLen] != '_' {
		return "", false
	}
	if !isKeyText(rawKey[len(keyMarker):publicPrefLen]) || !isKeyText(rawKey[publicPrefLen+1:]) {
		return "", false
	}
	return rawKey[:publicPrefLen], true
}

// ValidPrefix reports whether s looks like a key's public prefix.
func ValidPrefix(s string) bool {
	return len(s) == publicPrefLen && strings.HasPrefix(s, keyMarker) && isKeyText(s[len(keyMarker):])
}

func isKeyText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// RedactKey returns what may be logged about a presented key: its public
// prefix when it has one, never the secret.
func RedactKey(rawKey string) string {
	if p, ok := ParseKey(rawKey); ok {
		return p + "_…"
	}
	return "(malformed)"
}

// ContainsKey reports whether s holds something shaped like an API key
// anywhere in it, so that text a client controls and PulseStream logs (a
// request id, for one) can be refused before a key leaks into the logs.
func ContainsKey(s string) bool {
	for i := 0; i+keyLen <= len(s); i++ {
		j := strings.Index(s[i:], keyMarker)
		if j < 0 || i+j+keyLen > len(s) {
			return false
		}
		i += j
		if _, ok := ParseKey(s[i : i+keyLen]); ok {
			return true
		}
	}
	return false
}
