package tenancy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// A signing secret is the HMAC key of a key's RFC 9421 request signatures
// (clients/go/httpsig): created with the key, shown once, and used as the UTF-8
// bytes of its text form pss_<52 lowercase base32 characters> (32 random
// bytes), so that `openssl dgst -hmac "$SECRET"` and any library taking a
// string or bytes agree on it.
//
// At rest it is sealed (AES-256-GCM, standard library) under the
// signing-secret-key setting, which lives outside PostgreSQL (an environment
// variable from a secret store), with the key's id as associated data. A
// copy of the database alone reveals no signing secret. Rotation goes with
// the key: a new key gets a new secret, revoking the old key retires its own.
const signingSecretMarker = "pss_"

// NewSigningSecret returns a fresh signing secret in its text form.
func NewSigningSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random signing secret: %w", err)
	}
	return signingSecretMarker + keyEncoding.EncodeToString(b[:]), nil
}

// Sealer seals and opens signing secrets with the signing-secret-key.
type Sealer struct{ aead cipher.AEAD }

// sealVersion prefixes every sealed secret so that another scheme (a second
// master key during its rotation) can be told apart later.
const sealVersion = 1

// NewSealer returns the Sealer of hexKey (64 hex digits: 32 bytes).
func NewSealer(hexKey string) (*Sealer, error) {
	key, err := hex.DecodeString(hexKey)
	if err != nil || len(key) != 32 {
		return nil, errors.New("signing-secret-key: must be 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("signing-secret-key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("signing-secret-key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns secret sealed for the key whose id is keyID.
func (s *Sealer) Seal(keyID, secret string) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], []byte(secret), []byte(keyID)), nil
}

// ErrUnsealable is a sealed secret this Sealer cannot open: another
// signing-secret-key sealed it, or it was changed or moved to another key.
var ErrUnsealable = errors.New("the signing secret cannot be opened with this signing-secret-key")

// Open returns the secret sealed for key keyID, as HMAC key bytes.
func (s *Sealer) Open(keyID string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	secret, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(keyID))
	if err != nil {
		return nil, ErrUnsealable
	}
	return secret, nil
}
