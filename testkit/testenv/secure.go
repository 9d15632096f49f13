package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Private servers that require TLS and authentication, for the tests of
// secured connections (issue 17). Like the fault tests' servers they run on
// free loopback ports with their own data and are gone when the test ends.

// SecureKafka is a private broker with a SASL_SSL listener that requires a
// client certificate signed by the test CA and a SCRAM or PLAIN login.
type SecureKafka struct {
	*Kafka
	SecureBrokers string // host:port of the SASL_SSL listener
}

// StartSecureKafka starts a private broker whose SASL_SSL listener knows the
// users given (name -> password) for SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN.
// Its PLAINTEXT listener stays for the broker itself and the start script's
// readiness check; tests point clients at SecureBrokers. Heap 256 MiB.
func StartSecureKafka(tb testing.TB, certs *Certs, users map[string]string) *SecureKafka {
	tb.Helper()
	var secure string
	var scram, plain []string
	for u, pw := range users {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			scram = append(scram, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", m, u, pw))
		}
		plain = append(plain, fmt.Sprintf("user_%s=%q", u, pw))
	}
	k := startKafka(tb, func(local string, port, cport int) []string {
		sport := FreePort(tb)
		for sport == port || sport == cport {
			sport = FreePort(tb)
		}
		secure = "127.0.0.1:" + strconv.Itoa(sport)
		props := filepath.Join(local, "secure.properties")
		l := "listener.name.sasl_ssl."
		plaintext := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(port)
		body := strings.Join([]string{
			"listeners=" + plaintext + ",CONTROLLER://127.0.0.1:" + strconv.Itoa(cport) + ",SASL_SSL://" + secure,
			"advertised.listeners=" + plaintext + ",SASL_SSL://" + secure,
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
			"sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
			l + "ssl.keystore.type=PEM",
			l + "ssl.keystore.location=" + certs.ServerPEM,
			l + "ssl.truststore.type=PEM",
			l + "ssl.truststore.location=" + certs.CA,
			l + "ssl.client.auth=required",
			l + "scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
			l + "scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
			l + "plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required " + strings.Join(plain, " ") + ";",
		}, "\n") + "\n"
		if err := os.WriteFile(props, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
		return []string{"PULSESTREAM_KAFKA_EXTRA_PROPERTIES=" + props, "PULSESTREAM_KAFKA_FORMAT_ARGS=" + strings.Join(scram, " "),
			"PULSESTREAM_KAFKA_HEAP=256m"}
	})
	return &SecureKafka{Kafka: k, SecureBrokers: secure}
}

// SecureRedis is a private redis-server reachable only over TLS (tls-port,
// no plain port), requiring a client certificate signed by the test CA and
// the ACL user given; the default user is off.
type SecureRedis struct {
	Addr string
	cmd  *exec.Cmd
}

// StartSecureRedis starts it and waits until the user can PING over TLS.
func StartSecureRedis(tb testing.TB, certs *Certs, username, password string) *SecureRedis {
	tb.Helper()
	Require(tb, "PULSESTREAM_REDIS_ADDR")
	dir := tb.TempDir()
	port := FreePort(tb)
	r := &SecureRedis{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	logFile, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey, "--tls-ca-cert-file", certs.CA,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no", "--dir", dir,
		"--user", "default", "off",
		"--user", username, "on", ">"+password, "~*", "&*", "+@all")
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	tc := clientTLS(tb, certs)
	waitFor(tb, "TLS redis on "+r.Addr, filepath.Join(dir, "redis.log"), func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", r.Addr, tc)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := fmt.Fprintf(c, "AUTH %s %s\r\nPING\r\n", username, password); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(buf[:n]), "+OK") {
			return fmt.Errorf("answer %q", buf[:n])
		}
		return nil
	})
	return r
}

// RequireTLS turns the private PostgreSQL into one that accepts TCP logins
// only over TLS (ssl=on with the test CA's server certificate, pg_hba.conf
// hostssl only) and waits until a TLS login works. It returns the URL
// without any ssl parameter (the client's TLS settings decide).
func (p *Postgres) RequireTLS(certs *Certs) string {
	p.tb.Helper()
	data, err := filepath.EvalSymlinks(filepath.Join(p.local, "postgres"))
	if err != nil {
		p.tb.Fatal(err)
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		p.tb.Fatal(err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	for src, dst := range map[string]string{certs.ServerCert: "server.crt", certs.ServerKey: "server.key", certs.CA: "ca.crt"} {
		b, err := os.ReadFile(src)
		if err != nil {
			p.tb.Fatal(err)
		}
		path := filepath.Join(data, dst)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			p.tb.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			p.tb.Fatal(err)
		}
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		p.tb.Fatal(err)
	}
	if err := os.Chown(filepath.Join(data, "pg_hba.conf"), uid, gid); err != nil {
		p.tb.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// the superuser over the unix socket in the data directory (trust)
	admin, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable", data, port))
	if err != nil {
		p.tb.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{"ALTER SYSTEM SET ssl = on", "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
		"ALTER SYSTEM SET ssl_key_file = 'server.key'", "SELECT pg_reload_conf()"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			p.tb.Fatalf("%s: %v", q, err)
		}
	}
	url := "postgres://pulsestream:pulsestream@" + p.addr + "/pulsestream"
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		p.tb.Fatal(err)
	}
	cc.TLSConfig = clientTLS(p.tb, certs)
	cc.TLSConfig.Certificates = nil
	cc.Fallbacks = nil
	waitFor(p.tb, "TLS login to postgres on "+p.addr, filepath.Join(p.local, "logs", "postgres.log"), func() error {
		c, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	return url
}

// StartSecureClickHouse starts a private chdb-server serving https with the
// test CA's server certificate, requiring a client certificate from that CA
// and the login user/password on every query. The login check is
// chdb-server's (it answers a failed login as ClickHouse does: 401, code 516);
// a real ClickHouse server's users are not part of this.
func StartSecureClickHouse(tb testing.TB, certs *Certs, username, password string) *ClickHouse {
	tb.Helper()
	return startClickHouse(tb, func(c *ClickHouse) {
		c.args = []string{"--user", username, "--password", password,
			"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-ca", certs.CA}
		c.scheme = "https"
		c.ping = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(tb, certs)}, Timeout: 2 * time.Second}
	})
}

// clientTLS trusts the test CA and presents the client certificate.
func clientTLS(tb testing.TB, certs *Certs) *tls.Config {
	tb.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(certs.CA)
	if err != nil {
		tb.Fatal(err)
	}
	pool.AppendCertsFromPEM(b)
	pair, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// waitFor polls ok until it succeeds, failing the test with its last error
// and the log's tail after 20 s.
func waitFor(tb testing.TB, what, log string, ok func() error) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready after 20s: %v\n%s", what, err, tail(log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
