package testenv

import (
	"bytes"
	"net/url"
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

// PostgresPasswordForms returns, for a secrets-in-logs search, how the
// password of the PostgreSQL URL the test uses could appear in a log: in a
// URL (":<password>@"), and bare unless it is also the URL's user, database
// or host name (which logs may legitimately name). It fails tb when the URL
// has no password: the search could not fail then.
func PostgresPasswordForms(tb testing.TB, rawURL string) map[string]string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse the PostgreSQL URL: %v", err)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		tb.Fatal("the PostgreSQL URL has no password: a search of the logs for it would prove nothing")
	}
	inURL := strings.TrimPrefix(url.UserPassword("", pw).String(), ":") // escaped as in a URL
	forms := map[string]string{"the PostgreSQL password (in a URL)": ":" + inURL + "@"}
	if pw != u.User.Username() && pw != strings.TrimPrefix(u.Path, "/") && pw != u.Hostname() {
		forms["the PostgreSQL password"] = pw
	}
	return forms
}
