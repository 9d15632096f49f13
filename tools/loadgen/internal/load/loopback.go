// Package load drives load against the gateway (HTTP, single events or
// batches, open or closed loop, gzip on or off) and against Kafka directly
// (franz-go, the raw ceiling). Every run is bounded in time and count and
// refuses targets that are not on the loopback interface.
package load

import (
	"context"
	"fmt"
	"net"
	"net/url"
)

// CheckLoopback returns an error unless every address of hostport (a
// "host:port" or a URL) resolves to loopback addresses only.
func CheckLoopback(ctx context.Context, target string) error {
	host := target
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		return fmt.Errorf("target %q: no host", target)
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("target %q resolves to %s, not a loopback address: the load generator only runs against this machine", target, a.IP)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("target %q: no address", target)
	}
	return nil
}
