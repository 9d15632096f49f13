package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
)

// imageTestTag is the tag (and so the version every program prints) of the
// image TestImage builds.
const imageTestTag = "0.0.0-imagetest"

// programs are the commands the image offers in /usr/local/bin.
var programs = []string{"gateway", "projector", "query", "migrate", "pulsectl"}

// maxBinaryBytes is the size budget of all binaries together, the same as
// scripts/images.sh: issue 24's 40 MB.
const maxBinaryBytes = 40 * 1000 * 1000

// podman runs scripts/podman.sh (podman with the flags these machines need)
// and returns its stdout, failing the test with stderr on error.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podmanErr(args...)
	if err != nil {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func podmanErr(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{"../scripts/podman.sh"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestImage builds the image with `scripts/images.sh` (what `make images`
// runs: buildah, FROM scratch, no pull) and runs it with podman: its file
// system is the layout deploy/docker/rootfs.sh documents, every program
// prints its version, the services answer /livez and /readyz with the
// settings the chart gives them as environment variables, and the migrate
// hook migrates fresh databases on the local servers.
func TestImage(t *testing.T) {
	if os.Getenv("PULSESTREAM_TEST_IMAGE") != "1" {
		t.Skip("builds and runs the image with buildah and podman: make test-deploy (PULSESTREAM_TEST_IMAGE=1)")
	}
	image := "localhost/pulsestream-imagetest:" + imageTestTag
	build := exec.Command("bash", "../scripts/images.sh")
	build.Env = append(os.Environ(), "IMAGE=localhost/pulsestream-imagetest", "IMAGE_TAG="+imageTestTag)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	} else {
		t.Logf("scripts/images.sh:\n%s", out)
	}
	t.Cleanup(func() { _, _ = podmanErr("rmi", "-f", image) })

	t.Run("layout", func(t *testing.T) { checkLayout(t, image) })
	t.Run("version", func(t *testing.T) {
		for _, p := range programs {
			out := podman(t, "run", "--rm", "--entrypoint", "/usr/local/bin/"+p, image, "-version")
			if want := p + " " + imageTestTag + " (go"; !strings.HasPrefix(out, want) {
				t.Errorf("%s -version printed %q, want it to start with %q", p, out, want)
			}
		}
	})
	if os.Getenv("PULSESTREAM_TEST_INTEGRATION") != "1" {
		t.Log("the services and the migrate hook need the local servers: source scripts/env.sh (PULSESTREAM_TEST_INTEGRATION=1)")
		return
	}
	t.Run("migrate hook", func(t *testing.T) { runMigrateHook(t, image) })
	local := localOverrides(t)
	r := renderObjects(t, "--set", "shutdown.delaySeconds=1", "--set", "shutdown.drainSeconds=5")
	// gateway first: it creates the topics (kafka-ensure-topics)
	for _, svc := range []string{"gateway", "projector", "query"} {
		t.Run(svc, func(t *testing.T) { runService(t, image, r, svc, local) })
	}
}

// checkLayout mounts the image and compares its files with rootfs.sh's layout.
func checkLayout(t *testing.T, image string) {
	var cfg []struct {
		Config struct {
			User       string
			Entrypoint []string
			Env        []string
		}
	}
	if err := json.Unmarshal([]byte(podman(t, "image", "inspect", image)), &cfg); err != nil || len(cfg) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	if c := cfg[0].Config; c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/gateway"}) {
		t.Errorf("image config: user %q, entrypoint %v; want 65532:65532 and /usr/local/bin/gateway", c.User, c.Entrypoint)
	}
	root := strings.TrimSpace(podman(t, "image", "mount", image))
	t.Cleanup(func() { _, _ = podmanErr("image", "unmount", image) })

	want := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
		"home/", "home/nonroot/", "tmp/", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/pulsestream"}
	for _, p := range programs {
		want = append(want, "usr/local/bin/"+p+" -> pulsestream")
	}
	var got []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.IsDir():
			rel += "/"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			rel += " -> " + target
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("image files:\n%s\nwant (deploy/docker/rootfs.sh):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	bin := filepath.Join(root, "usr/local/bin/pulsestream")
	if st, err := os.Stat(bin); err != nil || st.Size() >= maxBinaryBytes {
		t.Errorf("binary: %v, %d bytes; budget %d", err, st.Size(), maxBinaryBytes)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%s): a FROM scratch image has no libc", p.Type)
		}
	}
	ca, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
	debian, err2 := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil || err2 != nil || !bytes.Equal(ca, debian) {
		t.Errorf("the image's CA bundle is not Debian's ca-certificates bundle (%v, %v)", err, err2)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), "\nnonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
	}
}

// runService starts svc's program in the image with the chart's environment
// (pointed at the local servers), waits for /livez and /readyz on the probed
// listener, then stops the container and expects exit code 0.
func runService(t *testing.T, image string, r rendered, svc string, local map[string]string) {
	env, probeAddr := localServiceEnv(t, r, svc, local)
	name := "pulsestream-imagetest-" + svc + "-" + randomHex(t)
	args := []string{"run", "-d", "--name", name, "--network=host", "--entrypoint", "/usr/local/bin/" + svc}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	podman(t, append(args, image)...)
	t.Cleanup(func() { _, _ = podmanErr("rm", "-f", name) })
	logs := func() string { out, _ := podmanErr("logs", name); return out }

	for _, path := range []string{"/livez", "/readyz"} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get("http://" + probeAddr + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s on %s did not answer 200 within 60s (%v)\n%s", svc, path, probeAddr, err, logs())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	// what `helm test` runs (templates/tests/ready.yaml)
	if out, err := podmanErr("run", "--rm", "--network=host", "--entrypoint", "/usr/local/bin/pulsectl", image, "probe", "http://"+probeAddr+"/readyz"); err != nil {
		t.Errorf("pulsectl probe of %s: %v", svc, err)
	} else if !strings.Contains(out, "200 OK") {
		t.Errorf("pulsectl probe of %s printed %q", svc, out)
	}
	grace := *r.deployments[svc].Spec.Template.Spec.TerminationGracePeriodSeconds
	podman(t, "stop", "-t", fmt.Sprint(grace), name)
	if code := strings.TrimSpace(podman(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Fatalf("%s exited %s after SIGTERM, want 0\n%s", svc, code, logs())
	}
}

// runMigrateHook runs the chart's migrate Job (its command and environment)
// in the image against a fresh PostgreSQL and a fresh ClickHouse database,
// then `migrate status` there, which exits 1 when a database is behind.
func runMigrateHook(t *testing.T, image string) {
	r := renderObjects(t)
	var job *batchv1.Job
	for _, o := range r.objs {
		if j, ok := o.(*batchv1.Job); ok && j.Labels["app.kubernetes.io/component"] == "migrate" {
			job = j
		}
	}
	if job == nil {
		t.Fatal("no migrate Job rendered")
	}
	c := job.Spec.Template.Spec.Containers[0]
	env := renderedEnv(t, job.Spec.Template.Spec, r.configMaps, r.secrets)
	db := "deploy_imagetest_" + randomHex(t)
	env["PULSESTREAM_POSTGRES_URL"] = freshPostgres(t, db)
	env["PULSESTREAM_CLICKHOUSE_ADDR"] = os.Getenv("PULSESTREAM_CLICKHOUSE_ADDR")
	env["PULSESTREAM_CLICKHOUSE_PROTOCOL"] = os.Getenv("PULSESTREAM_CLICKHOUSE_PROTOCOL")
	env["PULSESTREAM_CLICKHOUSE_DATABASE"] = freshClickHouse(t, db)

	for _, command := range [][]string{c.Command, {c.Command[0], "status"}} {
		args := []string{"run", "--rm", "--network=host", "--entrypoint", command[0]}
		for k, v := range env {
			args = append(args, "-e", k+"="+v)
		}
		out := podman(t, append(append(args, image), command[1:]...)...)
		for _, name := range []string{"postgres", "clickhouse"} {
			var applied, latest int
			line := lineWithPrefix(out, name+" ")
			if _, err := fmt.Sscanf(line, name+" version %d of %d", &applied, &latest); err != nil || applied != latest || latest == 0 {
				t.Errorf("%s: %s line %q (%v), want the latest version applied\n%s", strings.Join(command, " "), name, line, err, out)
			}
		}
	}
}

func lineWithPrefix(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

// freshPostgres creates database db on the local PostgreSQL (psql, as the
// user of PULSESTREAM_POSTGRES_URL) and returns its URL; dropped at cleanup.
func freshPostgres(t *testing.T, db string) string {
	t.Helper()
	base := os.Getenv("PULSESTREAM_POSTGRES_URL")
	psql := func(sql string) error {
		out, err := exec.Command("psql", base, "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql %q: %w\n%s", sql, err, out)
		}
		return nil
	}
	if err := psql("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = psql("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

// freshClickHouse creates database db on the local ClickHouse engine (its
// HTTP interface) and returns its name; dropped at cleanup.
func freshClickHouse(t *testing.T, db string) string {
	t.Helper()
	query := func(sql string) error {
		resp, err := http.Post("http://"+os.Getenv("PULSESTREAM_CLICKHOUSE_ADDR")+"/", "text/plain", strings.NewReader(sql))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			return fmt.Errorf("clickhouse %q: %s %s", sql, resp.Status, b.String())
		}
		return nil
	}
	if err := query("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = query("DROP DATABASE IF EXISTS " + db) })
	return db
}
