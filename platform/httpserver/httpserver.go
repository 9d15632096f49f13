// Package httpserver runs an http.Server with the timeouts every PulseStream
// listener needs (slow clients cannot hold connections forever), TLS when a
// certificate and key are configured, and a graceful stop for the run group.
package httpserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config is one listener's settings. Prefix names its flags ("gateway" gives
// gateway-addr, gateway-tls-cert, ...).
type Config struct {
	Prefix            string
	Addr              string
	TLSCertFile       string
	TLSKeyFile        string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
}

// RegisterFlags defines the listener's flags with defaultAddr.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix, defaultAddr string) {
	c.Prefix = prefix
	fs.StringVar(&c.Addr, prefix+"-addr", defaultAddr, "listen address of the "+prefix+" HTTP server")
	fs.StringVar(&c.TLSCertFile, prefix+"-tls-cert", "", "PEM certificate file; with "+prefix+"-tls-key the server speaks TLS")
	fs.StringVar(&c.TLSKeyFile, prefix+"-tls-key", "", "PEM private key file for "+prefix+"-tls-cert")
	fs.DurationVar(&c.ReadHeaderTimeout, prefix+"-read-header-timeout", 5*time.Second, "time allowed to read request headers")
	fs.DurationVar(&c.ReadTimeout, prefix+"-read-timeout", 30*time.Second, "time allowed to read a whole request, body included")
	fs.DurationVar(&c.WriteTimeout, prefix+"-write-timeout", 60*time.Second, "time allowed to write a response")
	fs.DurationVar(&c.IdleTimeout, prefix+"-idle-timeout", 120*time.Second, "keep-alive idle timeout")
	fs.IntVar(&c.MaxHeaderBytes, prefix+"-max-header-bytes", 64<<10, "largest accepted request header block in bytes")
	fs.DurationVar(&c.ShutdownTimeout, prefix+"-shutdown-timeout", 25*time.Second, "time in-flight requests get to finish on shutdown")
}

// Validate names a bad listener setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%s-addr: %q is not host:port", c.Prefix, c.Addr)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("%s-tls-cert and %s-tls-key: set both or neither", c.Prefix, c.Prefix)
	}
	for name, d := range map[string]time.Duration{"read-header-timeout": c.ReadHeaderTimeout, "read-timeout": c.ReadTimeout, "write-timeout": c.WriteTimeout, "shutdown-timeout": c.ShutdownTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s-%s: must be positive, got %s", c.Prefix, name, d)
		}
	}
	return nil
}

// Server is a configured http.Server bound to its listener.
type Server struct {
	cfg    Config
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger
}

// Listen binds the address now, so a port clash fails at start and tests can
// ask for ":0" and read the bound address.
func Listen(cfg Config, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s-addr %s: %w", cfg.Prefix, cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return &Server{cfg: cfg, srv: srv, ln: ln, logger: logger}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve blocks until the server stops; a graceful stop returns nil.
func (s *Server) Serve() error {
	s.logger.Info("http server listening", "server", s.cfg.Prefix, "addr", s.Addr(), "tls", s.cfg.TLSCertFile != "")
	var err error
	if s.cfg.TLSCertFile != "" {
		err = s.srv.ServeTLS(s.ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown lets in-flight requests finish within the shutdown timeout.
func (s *Server) Shutdown(error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.logger.Warn("http server shutdown incomplete", "server", s.cfg.Prefix, "err", err)
		_ = s.srv.Close()
	}
}
