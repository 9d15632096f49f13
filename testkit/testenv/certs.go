package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a throwaway PKI for tests of secured connections, as PEM files
// in a temporary directory: a CA, a server certificate it signs for
// 127.0.0.1 and localhost, a client certificate it signs, and a second CA
// that signs nothing the servers use (configure a client with it to see an
// untrusted server certificate refused).
type Certs struct {
	CA         string // CA certificate
	ServerCert string
	ServerKey  string // PKCS#8
	ServerPEM  string // server key then certificate, one file (Kafka's PEM keystore)
	ClientCert string
	ClientKey  string
	OtherCA    string // a CA unrelated to the servers' certificates
	// StrangerCert and StrangerKey are a client certificate and key signed by OtherCA (a server
	// that checks client certificates refuses it).
	StrangerCert, StrangerKey string
}

// NewCerts generates the PKI (ECDSA P-256, valid for an hour).
func NewCerts(tb testing.TB) *Certs {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // servers running as other users read the certificates
		tb.Fatal(err)
	}
	c := &Certs{}
	ca, caKey := newCA(tb, "pulsestream test CA")
	other, otherKey := newCA(tb, "unrelated test CA")
	c.CA = writePEM(tb, dir, "ca.crt", "CERTIFICATE", ca.Raw)
	c.OtherCA = writePEM(tb, dir, "other-ca.crt", "CERTIFICATE", other.Raw)
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	c.ServerCert, c.ServerKey, c.ServerPEM = issue(tb, dir, "server", server, ca, caKey)
	client := &x509.Certificate{Subject: pkix.Name{CommonName: "pulsestream"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	c.ClientCert, c.ClientKey, _ = issue(tb, dir, "client", client, ca, caKey)
	stranger := &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	c.StrangerCert, c.StrangerKey, _ = issue(tb, dir, "stranger", stranger, other, otherKey)
	return c
}

var serial = big.NewInt(time.Now().UnixNano())

func template(t *x509.Certificate) *x509.Certificate {
	serial = new(big.Int).Add(serial, big.NewInt(1))
	t.SerialNumber = serial
	t.NotBefore = time.Now().Add(-time.Minute)
	t.NotAfter = time.Now().Add(time.Hour)
	return t
}

func newCA(tb testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	t := template(&x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign})
	der, err := x509.CreateCertificate(rand.Reader, t, t, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

// issue signs t with the CA and writes <name>.crt, <name>.key and
// <name>.pem (key and certificate).
func issue(tb testing.TB, dir, name string, t *x509.Certificate, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certFile, keyFile, pemFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	t = template(t)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, t, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile = writePEM(tb, dir, name+".crt", "CERTIFICATE", der)
	keyFile = writePEM(tb, dir, name+".key", "PRIVATE KEY", pkcs8)
	both := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	pemFile = filepath.Join(dir, name+".pem")
	if err := os.WriteFile(pemFile, both, 0o644); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile, pemFile
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
