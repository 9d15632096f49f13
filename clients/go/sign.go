package pulsestream

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
)

// signer signs each request (RFC 9421, hmac-sha256) with the API key's
// signing secret; keyid is the key's public prefix, which is how the gateway
// finds the secret. Every attempt is signed afresh: a new created and a new
// nonce, since the gateway refuses a nonce it has seen (signature_replayed).
type signer struct {
	keyID string
	key   *httpsig.Key // the secret, its HMAC states reused across requests
}

// newSigner returns nil when cfg has no signing secret (requests go unsigned).
func newSigner(cfg Config) *signer {
	if cfg.SigningSecret == "" {
		return nil
	}
	id, _ := keyID(cfg.APIKey)
	return &signer{keyID: id, key: httpsig.NewKey([]byte(cfg.SigningSecret))}
}

// keyID is the public prefix of an API key ps_<prefix>_<secret>: everything
// before its last '_'.
func keyID(apiKey string) (string, bool) {
	i := strings.LastIndexByte(apiKey, '_')
	return apiKey[:max(i, 0)], i > 0
}

// sign covers @method, @target-uri, content-type and the Content-Digest of
// body, the bytes as sent (gzip included).
func (s *signer) sign(req *http.Request, body []byte) error {
	var n [16]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails (Go 1.24+)
	return s.key.Sign(req, body, httpsig.SignParams{KeyID: s.keyID, Nonce: hex.EncodeToString(n[:])})
}
