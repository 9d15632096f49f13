package secure

import (
	"context"
	"crypto/tls"
	"net"
)

// FirstAnswer writes request on conn and reads the first byte of the
// answer, whatever it is: the start checks' round trip on a TLS connection.
// With TLS 1.3 the client's handshake ends before the server has verified
// the client certificate, so a refusal arrives later, as an alert followed
// by the server closing the connection; a client library's own request may
// meet that as a reset that names nothing, and retry until its time is
// spent. Here the read follows the write even when the write failed: the
// alert, received before the reset, is read from the socket either way.
func FirstAnswer(ctx context.Context, conn net.Conn, request []byte) error {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	_, werr := conn.Write(request)
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return err // the server's alert when it refused the certificate
	}
	return werr
}

// DialFirstAnswer dials addr over TLS with tc (the server name defaults to
// addr's host, as the clients verify it) and returns FirstAnswer's error.
func DialFirstAnswer(ctx context.Context, addr string, tc *tls.Config, request []byte) error {
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		tc = tc.Clone()
		tc.ServerName = host
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: tc}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	return FirstAnswer(ctx, conn, request)
}
