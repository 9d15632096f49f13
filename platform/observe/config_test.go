package observe

import (
	"flag"
	"testing"
	"time"
)

func TestHealthConfigDefaultsAndValidation(t *testing.T) {
	var c HealthConfig
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if c.Timeout != 2*time.Second || c.Validate() != nil {
		t.Fatalf("default %s, %v", c.Timeout, c.Validate())
	}
	for _, bad := range []string{"0s", "-1s"} {
		if err := fs.Set("health-timeout", bad); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil {
			t.Fatalf("health-timeout %s accepted", bad)
		}
	}
}
