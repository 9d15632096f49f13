// Package logging builds the structured JSON logger (log/slog) every service
// uses. Loggers are passed down explicitly; there is no global logger.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Config selects the level and format of the log.
type Config struct {
	Level  string
	Format string
}

// RegisterFlags defines log-level and log-format.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.Format, "log-format", "json", "log format: json or text")
}

// Validate names a bad log setting.
func (c *Config) Validate() error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.Level)
	}
	if c.Format != "json" && c.Format != "text" {
		return fmt.Errorf("log-format: must be json or text, got %q", c.Format)
	}
	return nil
}

// New returns a logger writing to w; service names the process in every line.
func New(w io.Writer, cfg Config, service string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToLower(cfg.Level)))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}
