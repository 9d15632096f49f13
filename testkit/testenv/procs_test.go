package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestOwnRedisIsKilledAndRestartedWithoutTouchingTheSharedOne(t *testing.T) {
	shared := RedisAddr(t)
	r := StartRedis(t)
	if r.Addr == shared {
		t.Fatalf("private redis on the shared address %s", shared)
	}
	ping := func(addr string) error {
		// Bounds for a loaded machine: the test is about which server
		// answers, not how fast.
		c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}
	if err := ping(r.Addr); err != nil {
		t.Fatalf("private redis: %v", err)
	}
	r.Kill()
	if c, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("private redis still listens after Kill")
	}
	if err := ping(shared); err != nil {
		t.Fatalf("shared redis hurt by the private kill: %v", err)
	}
	r.Start()
	if err := ping(r.Addr); err != nil {
		t.Fatalf("private redis after restart: %v", err)
	}
}
