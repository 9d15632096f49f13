package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// prometheusOperatorCRDs is the prometheus-operator release whose CRDs
// (ServiceMonitor, PrometheusRule) are applied before the chart: the newest
// one the Go module proxy serves with its example/ directory.
const prometheusOperatorCRDs = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// cluster is a kube-apiserver with its etcd, on loopback, for one test.
type cluster struct {
	kubeconfig string
	cs         *kubernetes.Clientset
	dyn        dynamic.Interface
	mapper     meta.RESTMapper
}

// startCluster starts Debian's etcd and a kube-apiserver built from the
// Kubernetes sources (scripts/kube-apiserver.sh) on free loopback ports. No
// kubelet, scheduler or controller manager runs: objects are validated,
// admitted and stored, nothing is scheduled.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	out, err := exec.Command("bash", "../scripts/kube-apiserver.sh").Output()
	if err != nil {
		t.Fatalf("scripts/kube-apiserver.sh: %v", exitErr(err))
	}
	apiserver := strings.TrimSpace(string(out))
	dir := t.TempDir()

	etcdClient, etcdPeer := freeAddr(t), freeAddr(t)
	start(t, dir, "etcd", "etcd", "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls=http://"+etcdClient, "--advertise-client-urls=http://"+etcdClient,
		"--listen-peer-urls=http://"+etcdPeer, "--initial-advertise-peer-urls=http://"+etcdPeer,
		"--initial-cluster=test=http://"+etcdPeer, "--log-level=warn")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sa.key")
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	token := randomHex(t) + randomHex(t)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"))
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	exited := start(t, dir, "kube-apiserver", apiserver, "--etcd-servers=http://"+etcdClient,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--cert-dir="+filepath.Join(dir, "certs"), "--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-key-file="+keyFile, "--service-account-signing-key-file="+keyFile,
		"--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/16",
		// the endpoints of the "kubernetes" Service may not be a loopback address
		"--endpoint-reconciler-type=none")

	cfg := &rest.Config{Host: "https://" + addr, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	waitReady(t, cfg, filepath.Join(dir, "kube-apiserver.log"), exited)
	c := &cluster{kubeconfig: filepath.Join(dir, "kubeconfig")}
	writeFile(t, c.kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, addr, token)))
	if c.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return c
}

func exitErr(err error) error {
	if ee, ok := err.(*exec.ExitError); ok {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs a server in the background, its output in dir/<name>.log, and
// stops it when the test ends; the channel is closed when it exits.
func start(t *testing.T, dir, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		log.Close()
	})
	return done
}

// waitReady waits until the API server answers /readyz with 200.
func waitReady(t *testing.T, cfg *rest.Config, log string, exited <-chan struct{}) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	began := time.Now()
	for time.Since(began) < 90*time.Second {
		select {
		case <-exited:
			out, _ := os.ReadFile(log)
			t.Fatalf("kube-apiserver exited:\n%s", tail(out, 20))
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, cfg.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+cfg.BearerToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("kube-apiserver ready in %s", time.Since(began).Round(100*time.Millisecond))
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	out, _ := os.ReadFile(log)
	t.Fatalf("kube-apiserver not ready within 90s:\n%s", tail(out, 40))
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// applyCRDs creates the ServiceMonitor and PrometheusRule CRDs of
// prometheus-operator and waits until the API server serves them.
func (c *cluster) applyCRDs(t *testing.T) {
	t.Helper()
	dl := exec.Command("go", "mod", "download", "-json", prometheusOperatorCRDs)
	dl.Dir, dl.Env = t.TempDir(), append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := dl.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", prometheusOperatorCRDs, exitErr(err))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", prometheusOperatorCRDs, err, out)
	}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, kind := range []string{"servicemonitors", "prometheusrules"} {
		raw, err := os.ReadFile(filepath.Join(mod.Dir, "example/prometheus-operator-crd/monitoring.coreos.com_"+kind+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := c.dyn.Resource(gvr).Create(context.Background(), &obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", kind, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !crdEstablished(c, gvr, obj.GetName()) {
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established within 30s", obj.GetName())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func crdEstablished(c *cluster, gvr schema.GroupVersionResource, name string) bool {
	crd, err := c.dyn.Resource(gvr).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cd := range conds {
		m, _ := cd.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// hookRun is what the stand-in Job controller saw when a hook Job appeared.
type hookRun struct {
	component   string
	weight      int
	deployments int   // Deployments of the release that existed already
	gateway     int32 // the gateway Deployment's replicas then (-1: none)
	account     bool  // its ServiceAccount existed
	secrets     bool  // every Secret its container reads existed
}

// completeHookJobs stands in for the Job controller (none runs): it marks
// every Job that appears in ns complete, so `helm install` proceeds past
// its hooks, and records what existed when each appeared. Stop it with the
// returned function, which gives the runs in order.
func (c *cluster) completeHookJobs(t *testing.T, ns string) (stop func() []hookRun) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var runs []hookRun
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			jobs, err := c.cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range jobs.Items {
					j := &jobs.Items[i]
					if seen[string(j.UID)] {
						continue
					}
					seen[string(j.UID)] = true
					run := c.inspectHook(ctx, ns, j)
					if err := c.markComplete(ctx, j); err != nil {
						t.Errorf("mark Job %s complete: %v", j.Name, err)
					}
					mu.Lock()
					runs = append(runs, run)
					mu.Unlock()
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() []hookRun {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return runs
	}
}

func (c *cluster) inspectHook(ctx context.Context, ns string, j *batchv1.Job) hookRun {
	run := hookRun{component: j.Labels["app.kubernetes.io/component"], secrets: true, gateway: -1}
	run.weight, _ = strconv.Atoi(j.Annotations["helm.sh/hook-weight"])
	if ds, err := c.cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		run.deployments = len(ds.Items)
		for _, d := range ds.Items {
			if d.Labels["app.kubernetes.io/component"] == "gateway" && d.Spec.Replicas != nil {
				run.gateway = *d.Spec.Replicas
			}
		}
	}
	pod := j.Spec.Template.Spec
	_, err := c.cs.CoreV1().ServiceAccounts(ns).Get(ctx, pod.ServiceAccountName, metav1.GetOptions{})
	run.account = err == nil
	for _, e := range pod.Containers[0].Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			s, err := c.cs.CoreV1().Secrets(ns).Get(ctx, ref.SecretKeyRef.Name, metav1.GetOptions{})
			optional := ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional
			if err != nil || (!optional && s.Data[ref.SecretKeyRef.Key] == nil) {
				run.secrets = false
			}
		}
	}
	return run
}

// markComplete sets the status the Job controller would after one pod succeeded.
func (c *cluster) markComplete(ctx context.Context, j *batchv1.Job) error {
	now := metav1.Now()
	j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &now, &now, 1
	zero := int32(0)
	j.Status.Ready, j.Status.Terminating = &zero, &zero
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now},
	}
	_, err := c.cs.BatchV1().Jobs(j.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{})
	return err
}

// succeedTestPods stands in for the kubelet (none runs) during `helm test`:
// every pod of ns that appears is marked Succeeded. It returns the pods'
// names when stopped.
func (c *cluster) succeedTestPods(t *testing.T, ns string) (stop func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	var names []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]bool{}
		for ctx.Err() == nil {
			pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if seen[string(p.UID)] {
						continue
					}
					seen[string(p.UID)] = true
					p.Status.Phase = corev1.PodSucceeded
					if _, err := c.cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
						t.Errorf("mark pod %s succeeded: %v", p.Name, err)
					}
					names = append(names, p.Name)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() []string { cancel(); <-done; return names }
}

// helmRun runs helm against the cluster and returns its combined output.
func (c *cluster) helmRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm(t), append(args, "--kubeconfig", c.kubeconfig)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// checkStored reads back every object of the release's manifest from the API
// server: helm created each, and the server validated, admitted and stored it.
func (c *cluster) checkStored(t *testing.T, release, ns string) map[string]int {
	t.Helper()
	manifest := c.helmRun(t, "get", "manifest", release, "--namespace", ns)
	kinds := map[string]int{}
	for _, doc := range documents(t, manifest) {
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatal(err)
		}
		gvk := obj.GroupVersionKind()
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		if _, err := c.dyn.Resource(m.Resource).Namespace(ns).Get(context.Background(), obj.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s is not stored: %v", gvk.Kind, obj.GetName(), err)
		}
		kinds[gvk.Kind]++
	}
	return kinds
}

// checkHookOrder: the hooks ran in weight order (topics -5, then migrate 0)
// with their ServiceAccount and Secrets in place, and before any Deployment
// changed: on install none existed yet (deployments 0), on an upgrade that
// changes the gateway's replicas the gateway still had the old count.
func checkHookOrder(t *testing.T, runs []hookRun, want []string, deployments int, gatewayReplicas int32) {
	t.Helper()
	var got []string
	for i, r := range runs {
		got = append(got, r.component)
		if r.deployments != deployments || r.gateway != gatewayReplicas {
			t.Errorf("hook %s ran with %d Deployments and the gateway at %d replicas, want %d and %d: the release changed before its hooks finished",
				r.component, r.deployments, r.gateway, deployments, gatewayReplicas)
		}
		if !r.account || !r.secrets {
			t.Errorf("hook %s: its ServiceAccount existed %v, its Secrets existed %v; want both before it runs", r.component, r.account, r.secrets)
		}
		if i > 0 && runs[i-1].weight > r.weight {
			t.Errorf("hook %s (weight %d) ran after %s (weight %d)", r.component, r.weight, runs[i-1].component, runs[i-1].weight)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("hooks ran %v, want %v", got, want)
	}
}

func secretKey(t *testing.T, c *cluster, ns, name, key string) string {
	t.Helper()
	s, err := c.cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret %s: %v", name, err)
	}
	return string(s.Data[key])
}

// TestChartInstallsIntoARealAPIServer installs the chart with helm into a
// kube-apiserver (with the prometheus-operator CRDs applied first) for the
// default values and for testdata/production.yaml, checks every object of the
// release is stored, that the hooks ran in order before any Deployment, and
// that an upgrade keeps the generated cursor key.
func TestChartInstallsIntoARealAPIServer(t *testing.T) {
	if os.Getenv("PULSESTREAM_TEST_APISERVER") != "1" {
		t.Skip("starts etcd and a kube-apiserver built from source (~5 min the first time): make test-deploy (PULSESTREAM_TEST_APISERVER=1)")
	}
	c := startCluster(t)
	c.applyCRDs(t)

	t.Run("defaults", func(t *testing.T) {
		ns := "ps-defaults"
		stop := c.completeHookJobs(t, ns)
		c.helmRun(t, "install", "ps", chartDir, "--namespace", ns, "--create-namespace", "--timeout", "2m")
		checkHookOrder(t, stop(), []string{"topics", "migrate"}, 0, -1)
		kinds := c.checkStored(t, "ps", ns)
		for kind, n := range map[string]int{"Deployment": 3, "Service": 3, "ConfigMap": 3, "Secret": 3, "PodDisruptionBudget": 3, "ServiceAccount": 1} {
			if kinds[kind] != n {
				t.Errorf("%d %s stored, want %d (all: %v)", kinds[kind], kind, n, kinds)
			}
		}
		key := secretKey(t, c, ns, "ps-pulsestream-query", "PULSESTREAM_CURSOR_KEY")
		if len(key) != 64 {
			t.Fatalf("generated cursor key %q, want 64 hex digits", key)
		}
		// hook resources are deleted once the hooks succeeded
		if _, err := c.cs.CoreV1().Secrets(ns).Get(context.Background(), "ps-pulsestream-hooks", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the hook Secret outlives the hooks: %v", err)
		}

		stopPods := c.succeedTestPods(t, ns)
		c.helmRun(t, "test", "ps", "--namespace", ns, "--timeout", "1m")
		if pods := stopPods(); len(pods) != 1 || pods[0] != "ps-pulsestream-helm-test" {
			t.Errorf("helm test created pods %v, want ps-pulsestream-helm-test", pods)
		}

		stop = c.completeHookJobs(t, ns)
		c.helmRun(t, "upgrade", "ps", chartDir, "--namespace", ns, "--set", "gateway.replicas=3", "--timeout", "2m")
		checkHookOrder(t, stop(), []string{"topics", "migrate"}, 3, 2)
		if d, err := c.cs.AppsV1().Deployments(ns).Get(context.Background(), "ps-pulsestream-gateway", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 3 {
			t.Errorf("after the upgrade the gateway Deployment is %v (%v), want 3 replicas", d.Spec.Replicas, err)
		}
		if got := secretKey(t, c, ns, "ps-pulsestream-query", "PULSESTREAM_CURSOR_KEY"); got != key {
			t.Errorf("helm upgrade replaced the cursor key %q with %q: every cursor handed out would break", key, got)
		}
	})

	t.Run("production values", func(t *testing.T) {
		ns := "ps-production"
		if _, err := c.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// the operator's Secrets, created before the release (existingSecret, TLS)
		for name, data := range map[string]map[string]string{
			"pulsestream-secrets": {"PULSESTREAM_POSTGRES_URL": "postgres://ps:secret@postgres:5432/ps?sslmode=require", "PULSESTREAM_CURSOR_KEY": testCursorKey},
			"pulsestream-tls":     {"tls.crt": "cert", "tls.key": "key"},
		} {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
			if _, err := c.cs.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		stop := c.completeHookJobs(t, ns)
		c.helmRun(t, "install", "ps", chartDir, "--namespace", ns, "-f", "testdata/production.yaml", "--timeout", "2m")
		checkHookOrder(t, stop(), []string{"topics", "migrate"}, 0, -1)
		kinds := c.checkStored(t, "ps", ns)
		for kind, n := range map[string]int{"Deployment": 3, "Service": 3, "ConfigMap": 4, "Secret": 0, "PodDisruptionBudget": 3,
			"HorizontalPodAutoscaler": 2, "Ingress": 2, "NetworkPolicy": 3, "ServiceMonitor": 3, "PrometheusRule": 1} {
			if kinds[kind] != n {
				t.Errorf("%d %s stored, want %d (all: %v)", kinds[kind], kind, n, kinds)
			}
		}
	})
}
