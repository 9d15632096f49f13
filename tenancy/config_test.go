package tenancy

import (
	"flag"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if c.CacheTTL != 10*time.Second || c.Validate() != nil {
		t.Fatalf("default %s, %v", c.CacheTTL, c.Validate())
	}
	for _, bad := range []string{"-1s", "11m"} {
		if err := fs.Set("auth-cache-ttl", bad); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil {
			t.Fatalf("auth-cache-ttl %s accepted", bad)
		}
	}
}
