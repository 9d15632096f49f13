package testenv

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// LogBuffer is a log sink that a service's goroutines share with the test
// reading it (the secrets-in-logs tests search it).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// RequireAbsent fails tb for every named secret found in text, showing where.
func RequireAbsent(tb testing.TB, text string, secrets map[string]string) {
	tb.Helper()
	for what, s := range secrets {
		if i := strings.Index(text, s); i >= 0 {
			tb.Errorf("%s is in the log: …%s…", what, text[max(i-200, 0):min(i+100, len(text))])
		}
	}
}
