package kafka_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// pingWith pings the broker with a client logging to a buffer at level and
// returns what was logged.
func pingWith(t *testing.T, level slog.Level) string {
	t.Helper()
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))
	cl, err := kafka.NewClient(kafka.Config{Brokers: testenv.KafkaBrokers(t), ClientID: "pulsestream-test"}, nil, logger, "pulsestream_test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.Ping(ctx, cl); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	return logs.String()
}

func TestClientLogsGoThroughTheServiceLoggerAtItsLevel(t *testing.T) {
	debug := pingWith(t, slog.LevelDebug)
	if !strings.Contains(debug, "kafka_client=pulsestream_test") || !strings.Contains(debug, "level=DEBUG") {
		t.Fatalf("no franz-go debug line with the client attribute:\n%s", debug)
	}
	if warn := pingWith(t, slog.LevelWarn); warn != "" {
		t.Fatalf("a warn-level logger got franz-go lines below warn:\n%s", warn)
	}
}
