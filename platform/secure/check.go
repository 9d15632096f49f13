package secure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Probe is one first contact with a server at start.
type Probe struct {
	Name    string // the dependency: kafka, redis, postgres, clickhouse
	Server  string // where it was reached, for messages (never a URL with a password)
	Timeout time.Duration
	Ping    func(ctx context.Context) error
	// Refused returns the setting to blame when err means the server refused
	// the connection's TLS or credentials, or "" when it does not (the server
	// is unreachable or still starting: readiness reports that).
	Refused func(err error) string
}

// RefusedError is a server refusing a connection's certificate or
// credentials: retrying cannot help, so the service stops.
type RefusedError struct {
	Setting string
	Name    string
	Server  string
	Err     error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s at %s refused the connection: %v", e.Setting, e.Name, e.Server, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Check pings every probe at once, each within its timeout. A server that
// refuses the TLS handshake or the credentials is an error naming the
// setting and the server (all of them, joined). A server that cannot be
// reached is logged and left to the readiness checks, so a service may
// still start before its dependencies.
func Check(ctx context.Context, logger *slog.Logger, probes ...Probe) error {
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { errs[i] = p.check(ctx, logger) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p Probe) check(ctx context.Context, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	err := p.Ping(ctx)
	if err == nil {
		return nil
	}
	if setting := p.Refused(err); setting != "" {
		return &RefusedError{Setting: setting, Name: p.Name, Server: p.Server, Err: err}
	}
	if logger != nil {
		logger.Warn("dependency not reachable at start; readiness reports it until it is", "dependency", p.Name, "server", p.Server, "err", err)
	}
	return nil
}
