package signature

import (
	"bytes"
	"sync"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
)

// maxKeys bounds the opened keys kept; past it the memo starts over.
const maxKeys = 10_000

// keys memoizes API keys' opened signing secrets as httpsig.Keys (their HMAC
// states reused), so that a signed request neither opens its key's sealed
// secret nor builds an HMAC. An entry serves only while the key's sealed
// secret is the one it was opened from: a rotated secret is opened afresh.
// It keeps in memory what the gateway opens anyway for every signed request.
type keys struct {
	mu sync.RWMutex
	m  map[string]keyEntry // by API key id
}

type keyEntry struct {
	sealed []byte
	key    *httpsig.Key
}

// get returns the key opened from sealed for API key id, or nil.
func (k *keys) get(id string, sealed []byte) *httpsig.Key {
	k.mu.RLock()
	e, ok := k.m[id]
	k.mu.RUnlock()
	if !ok || !bytes.Equal(e.sealed, sealed) {
		return nil
	}
	return e.key
}

// put remembers key, opened from sealed, for API key id.
func (k *keys) put(id string, sealed []byte, key *httpsig.Key) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKeys {
		k.m = make(map[string]keyEntry)
	}
	k.m[id] = keyEntry{sealed: bytes.Clone(sealed), key: key}
}
