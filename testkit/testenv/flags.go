package testenv

import (
	"flag"
	"testing"
)

// SetFlags registers settings on a fresh flag set (register is a Config's
// RegisterFlags) and sets kv, flag name then value, as a service's command
// line would; a refused value fails the test naming the flag.
func SetFlags(t testing.TB, register func(*flag.FlagSet), kv ...string) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	register(fs)
	for i := 0; i+1 < len(kv); i += 2 {
		if err := fs.Set(kv[i], kv[i+1]); err != nil {
			t.Fatalf("-%s=%s: %v", kv[i], kv[i+1], err)
		}
	}
}
