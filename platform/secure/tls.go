// Package secure holds what every outgoing connection of PulseStream shares
// for encryption and authentication: one TLS block (CA bundle, optional
// client certificate, server name) with the same flags for Kafka, Redis,
// PostgreSQL and ClickHouse, and the start-time access check that stops a
// service whose server refuses its certificate or its credentials, naming the
// setting to fix and the server.
//
// It builds a crypto/tls.Config and nothing more: the clients (franz-go,
// go-redis, pgx, clickhouse-go) do the handshakes, and crypto/x509 the
// verification (always on; there is no setting to skip it).
package secure

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

// TLS is the TLS block of one client. RegisterFlags names its flags after the
// client: prefix kafka gives kafka-tls, kafka-tls-ca, kafka-tls-cert,
// kafka-tls-key and kafka-tls-server-name.
type TLS struct {
	Enabled    bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string

	prefix string
}

// RegisterFlags defines the <prefix>-tls* flags; server names the server in
// help texts ("Kafka brokers").
func (c *TLS) RegisterFlags(fs *flag.FlagSet, prefix, server string) {
	c.prefix = prefix
	fs.BoolVar(&c.Enabled, prefix+"-tls", false, "connect to the "+server+" over TLS (certificate and host name always verified)")
	fs.StringVar(&c.CAFile, prefix+"-tls-ca", "", "PEM bundle of the CAs that sign the certificates of the "+server+"; empty: the system's roots")
	fs.StringVar(&c.CertFile, prefix+"-tls-cert", "", "PEM client certificate, for a "+server+" that requires one (with "+prefix+"-tls-key)")
	fs.StringVar(&c.KeyFile, prefix+"-tls-key", "", "PEM private key of "+prefix+"-tls-cert")
	fs.StringVar(&c.ServerName, prefix+"-tls-server-name", "", "name the certificates of the "+server+" must carry; empty: the host of the address dialed")
}

// name is the flag prefix (kafka, redis, postgres, clickhouse); "tls" for a
// block that was never registered (built in code).
func (c *TLS) name() string {
	if c.prefix == "" {
		return "tls"
	}
	return c.prefix
}

// Validate names a bad TLS setting: a file that cannot be read or parsed, a
// certificate without its key, or a TLS option while <prefix>-tls is off
// (which would otherwise connect in plaintext without a word).
func (c *TLS) Validate() error {
	_, err := c.Config()
	return err
}

// Config returns the client TLS configuration, or nil when TLS is off.
func (c *TLS) Config() (*tls.Config, error) {
	p := c.name()
	if !c.Enabled {
		for _, o := range []struct{ flag, value string }{{"ca", c.CAFile}, {"cert", c.CertFile}, {"key", c.KeyFile}, {"server-name", c.ServerName}} {
			if o.value != "" {
				return nil, fmt.Errorf("%s-tls-%s: set while %s-tls is off; turn %s-tls on or clear it", p, o.flag, p, p)
			}
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-ca: %w", p, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s-tls-ca: %s holds no PEM certificate", p, c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("%s-tls-cert and %s-tls-key: set both or neither", p, p)
	}
	if c.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-tls-cert and %s-tls-key: %w", p, p, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// ForHost is Config with the server name defaulting to host, for clients
// that dial one known host and do not fill it in themselves.
func (c *TLS) ForHost(host string) (*tls.Config, error) {
	cfg, err := c.Config()
	if cfg != nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg, err
}

// TLSSetting returns the TLS setting that err (from a connection attempt)
// blames, or "" when err is not a TLS failure: a certificate signed by an
// unknown CA (<prefix>-tls-ca), a certificate for another name
// (<prefix>-tls-server-name), a server that refused our client certificate
// or wanted one (<prefix>-tls-cert), a server that does not speak TLS, or a
// TLS server reached without TLS (<prefix>-tls).
func (c *TLS) TLSSetting(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &invalid):
		return c.name() + "-tls-ca"
	case errors.As(err, &hostname):
		return c.name() + "-tls-server-name"
	case errors.As(err, &record):
		return c.name() + "-tls"
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "tls:"):
		// an alert from the server: crypto/tls keeps its type unexported
		// ("remote error: tls: certificate required", "... bad certificate")
		return c.name() + "-tls-cert"
	}
	return ""
}
