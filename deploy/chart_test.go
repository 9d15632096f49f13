package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

const chartDir = "helm/pulsestream"

// kubeVersion is the Kubernetes version the chart is rendered for in tests
// (the chart needs >= 1.30 for the preStop sleep action).
const kubeVersion = "1.33.0"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the helm binary, built by scripts/helm.sh when missing.
func helm(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() {
		start := time.Now()
		out, err := exec.Command("bash", "../scripts/helm.sh").Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			helmErr = fmt.Errorf("scripts/helm.sh: %w", err)
			return
		}
		helmPath = strings.TrimSpace(string(out))
		if d := time.Since(start); d > 5*time.Second {
			fmt.Fprintf(os.Stderr, "scripts/helm.sh took %s\n", d.Round(time.Second))
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// testCursorKey is query's cursor key in rendered manifests: helm template
// refuses to generate one (it cannot see an earlier install's Secret).
const testCursorKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// render runs helm template with args and returns stdout, or the error with
// stderr. Unless args (or values files) name existingSecret or a cursor key,
// query's cursor key is testCursorKey.
func render(t testing.TB, args ...string) (string, error) {
	t.Helper()
	names := func(a string) bool {
		if raw, err := os.ReadFile(a); err == nil && strings.HasSuffix(a, ".yaml") {
			a = string(raw) // a values file
		}
		return strings.Contains(a, "existingSecret") || strings.Contains(a, "cursor-key")
	}
	if !slices.ContainsFunc(args, names) {
		args = append([]string{"--set", "query.secrets.cursor-key=" + testCursorKey}, args...)
	}
	return renderBare(t, args...)
}

// renderBare is render without a cursor key.
func renderBare(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "ps", chartDir, "--namespace", "pulsestream", "--kube-version", kubeVersion}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm template %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func mustRender(t testing.TB, args ...string) string {
	t.Helper()
	out, err := render(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderCases are the value sets every manifest test renders.
var renderCases = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"every toggle on", []string{"-f", "testdata/all-toggles.yaml"}},
	{"existing secret", []string{"--set", "existingSecret=pulsestream-secrets"}},
	{"production", []string{"-f", "testdata/production.yaml"}},
}

// codecs decodes Kubernetes and prometheus-operator objects strictly: an
// unknown or duplicated field is an error, as in `kubectl apply --validate=strict`.
func strictDecoder(t testing.TB) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
}

// documents splits a multi-document YAML stream, dropping empty documents.
func documents(t testing.TB, manifest string) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("split manifest: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// decodeAll strictly decodes every document of manifest into its API type.
func decodeAll(t testing.TB, manifest string) []runtime.Object {
	t.Helper()
	dec := strictDecoder(t)
	var objs []runtime.Object
	for _, doc := range documents(t, manifest) {
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decode %v: %v\n%s", gvk, err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

func kinds(objs []runtime.Object) map[string]int {
	m := map[string]int{}
	for _, o := range objs {
		m[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	return m
}

func TestChartLintsWithDefaultsAndEveryToggle(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, tc.args...)
			out, err := exec.Command(helm(t), args...).CombinedOutput()
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestEveryRenderedManifestDecodesStrictlyIntoItsAPIType(t *testing.T) {
	want := map[string]map[string]int{
		"defaults": {"Deployment": 3, "Service": 3, "ConfigMap": 3, "Secret": 4, "Job": 2, "PodDisruptionBudget": 3, "ServiceAccount": 2, "Pod": 1},
		"every toggle on": {"Deployment": 3, "Service": 3, "ConfigMap": 4, "Secret": 4, "Job": 2, "PodDisruptionBudget": 3,
			"HorizontalPodAutoscaler": 2, "Ingress": 2, "NetworkPolicy": 3, "ServiceMonitor": 3, "PrometheusRule": 1},
		"existing secret": {"Deployment": 3, "Secret": 0, "Job": 2},
		"production": {"Deployment": 3, "Service": 3, "ConfigMap": 4, "Secret": 0, "Job": 2, "PodDisruptionBudget": 3,
			"HorizontalPodAutoscaler": 2, "Ingress": 2, "NetworkPolicy": 3, "ServiceMonitor": 3, "PrometheusRule": 1, "ServiceAccount": 2},
	}
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(decodeAll(t, mustRender(t, tc.args...)))
			for kind, n := range want[tc.name] {
				if got[kind] != n {
					t.Errorf("%d %s rendered, want %d (all: %v)", got[kind], kind, n, got)
				}
			}
		})
	}
}

func TestStrictDecodingRefusesAMisspelledField(t *testing.T) {
	manifest := mustRender(t, "-f", "testdata/all-toggles.yaml")
	dec := strictDecoder(t)
	for _, tc := range []struct{ kind, field, misspelled string }{
		{"Deployment", "terminationGracePeriodSeconds:", "terminationGracePeriodSecond:"},
		{"Deployment", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:"},
		{"ServiceMonitor", "scrapeTimeout:", "scrapeTimout:"},
		{"PrometheusRule", "expr:", "expression:"},
	} {
		t.Run(tc.kind+"/"+tc.misspelled, func(t *testing.T) {
			var doc []byte
			for _, d := range documents(t, manifest) {
				if bytes.Contains(d, []byte("\nkind: "+tc.kind+"\n")) && bytes.Contains(d, []byte(tc.field)) {
					doc = d
					break
				}
			}
			if doc == nil {
				t.Fatalf("no %s with %s rendered", tc.kind, tc.field)
			}
			if _, _, err := dec.Decode(doc, nil, nil); err != nil {
				t.Fatalf("the correct %s does not decode: %v", tc.kind, err)
			}
			bad := bytes.Replace(doc, []byte(tc.field), []byte(tc.misspelled), 1)
			_, _, err := dec.Decode(bad, nil, nil)
			if err == nil || !runtime.IsStrictDecodingError(err) || !strings.Contains(err.Error(), "unknown field") ||
				!strings.Contains(err.Error(), strings.TrimSuffix(tc.misspelled, ":")) {
				t.Fatalf("misspelled %s was not refused as an unknown field: %v", tc.misspelled, err)
			}
		})
	}
}

func TestSchemaRefusesWrongValuesNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want []string
	}{
		{"gateway.replicas=-1", []string{"/gateway/replicas", "minimum: got -1, want 0"}},
		{"projector.replicas=-3", []string{"/projector/replicas", "minimum"}},
		{"config.clickhouse-protocol=tcp", []string{"/config/clickhouse-protocol", "'http', 'native'"}},
		{"config.kafka-partitions=0", []string{"/config/kafka-partitions", "minimum"}},
		{"config.log-level=loud", []string{"/config/log-level", "value must be one of"}},
		{"config.redis-read-timeout=soon", []string{"/config/redis-read-timeout", "does not match pattern"}},
		{"gateway.ports.http=70000", []string{"/gateway/ports/http", "maximum"}},
		{"query.replica=3", []string{"/query", "additional properties 'replica' not allowed"}},
		{"image.pullPolicy=Sometimes", []string{"/image/pullPolicy", "value must be one of"}},
		{"topics.events.cleanup\\.policy=forever", []string{"/topics/events/cleanup.policy", "value must be one of"}},
		{"query.secrets.cursor-key=short", []string{"/query/secrets/cursor-key", "does not match pattern"}},
		{"gateway.autoscaling.targetCPUUtilizationPercentage=150", []string{"targetCPUUtilizationPercentage", "maximum"}},
		// refused by the templates rather than the schema
		{"projector.replicas=13", []string{"projector.replicas (13) exceeds config.kafka-partitions (12)"}},
		{"gateway.config.gateway-addr=:9999", []string{"gateway.config.gateway-addr is computed by the chart"}},
		{"query.config.query-timout=10s", []string{"query.config.query-timout: query reads no setting query-timout"}},
		{"config.kafka-brokrs=kafka:9092", []string{"config.kafka-brokrs: no PulseStream component reads a setting kafka-brokrs"}},
		{"listener.read-timout=1s", []string{"listener.read-timout: HTTP listeners have no setting read-timout"}},
		{"config.kafka-sasl-mechanism=scram", []string{"/config/kafka-sasl-mechanism", "value must be one of"}},
		{"tls.redis.verify=false", []string{"/tls/redis", "additional properties 'verify' not allowed"}},
		{"tls.redis.ca.secret=redis-ca", []string{"tls.redis.ca is set but tls.redis.enabled is false"}},
		{"tls.kafka.clientCertSecret=kc", []string{"tls.kafka.clientCertSecret is set but tls.kafka.enabled is false"}},
		{"config.kafka-tls-ca=/etc/ca.crt", []string{"config.kafka-tls-ca is computed by the chart", "TLS settings from tls.*"}},
		{"config.kafka-brokers=null", []string{"gateway reads the setting kafka-brokers (PULSESTREAM_KAFKA_BROKERS) but no value is given"}},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := render(t, "--set", tc.set)
			if err == nil {
				t.Fatalf("--set %s rendered; want an error", tc.set)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// workload is a pod spec and where it came from.
type workload struct {
	name string
	pod  corev1.PodSpec
}

func workloads(objs []runtime.Object) []workload {
	var out []workload
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment/" + o.Name, o.Spec.Template.Spec})
		case *batchv1.Job:
			out = append(out, workload{"Job/" + o.Name, o.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, workload{"Pod/" + o.Name, o.Spec})
		}
	}
	return out
}

func TestEveryContainerRunsNonRootReadOnlyWithoutPrivilegesOrCapabilities(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "-f", "testdata/all-toggles.yaml"))
	ws := workloads(objs)
	if len(ws) != 6 {
		t.Fatalf("%d workloads rendered, want 6 (3 Deployments, 2 Jobs, the helm test Pod)", len(ws))
	}
	for _, w := range ws {
		for _, c := range w.pod.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s/%s: no securityContext", w.name, c.Name)
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				t.Errorf("%s/%s: runAsNonRoot not set", w.name, c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s/%s: root filesystem writable", w.name, c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s/%s: privilege escalation allowed", w.name, c.Name)
			case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
				t.Errorf("%s/%s: capabilities not dropped: %+v", w.name, c.Name, sc.Capabilities)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: no CPU request or memory limit", w.name, c.Name)
			}
		}
	}
}

func TestServicesAreProbedOnLivezAndReadyzAndDrainBeforeTheKubeletKillsThem(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "--set", "shutdown.drainSeconds=40", "--set", "shutdown.delaySeconds=7"))
	configs := map[string]map[string]string{}
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			configs[cm.Name] = cm.Data
		}
	}
	n := 0
	for _, o := range objs {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		n++
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		for probe, path := range map[string]*corev1.Probe{"/livez": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if path == nil || path.HTTPGet == nil || path.HTTPGet.Path != probe {
				t.Errorf("%s: no %s probe", d.Name, probe)
				continue
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == path.HTTPGet.Port.StrVal }) {
				t.Errorf("%s: %s probe on port %q the container does not declare", d.Name, probe, path.HTTPGet.Port.String())
			}
		}
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
			t.Fatalf("%s: no preStop sleep", d.Name)
		}
		cfg := configs[c.EnvFrom[0].ConfigMapRef.Name]
		delay, err := time.ParseDuration(cfg["PULSESTREAM_SHUTDOWN_DELAY"])
		if err != nil || delay != 7*time.Second {
			t.Errorf("%s: PULSESTREAM_SHUTDOWN_DELAY = %q, want 7s", d.Name, cfg["PULSESTREAM_SHUTDOWN_DELAY"])
		}
		var drain time.Duration
		for k, v := range cfg {
			if strings.HasSuffix(k, "_SHUTDOWN_TIMEOUT") {
				dd, err := time.ParseDuration(v)
				if err != nil {
					t.Fatalf("%s: %s=%q: %v", d.Name, k, v, err)
				}
				drain = max(drain, dd)
			}
		}
		if drain != 40*time.Second {
			t.Errorf("%s: longest *_SHUTDOWN_TIMEOUT = %s, want 40s", d.Name, drain)
		}
		need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + delay + drain
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		if grace <= need {
			t.Errorf("%s: terminationGracePeriodSeconds %s does not cover preStop + shutdown delay + drain = %s", d.Name, grace, need)
		}
	}
	if n != 3 {
		t.Fatalf("%d Deployments, want 3", n)
	}
}

// documentedExceptions are settings a binary reads that the chart never
// renders into its Deployment (see templates/_settings.tpl).
var documentedExceptions = map[string][]string{
	// `projector replay` only
	"projector": {"PULSESTREAM_SINK", "PULSESTREAM_FROM_TIMESTAMP", "PULSESTREAM_DROP"},
}

var (
	binMu  sync.Mutex
	binDir string
	bins   = map[string]string{}
)

// binary builds ./<pkg> from the repository root once per test run.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if b, ok := bins[pkg]; ok {
		return b
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "pulsestream-deploy-test")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	bin := filepath.Join(binDir, strings.ReplaceAll(pkg, "/", "_"))
	// Built inside its own module, so this works with the workspace and with
	// GOWORK=off alike (every module builds alone).
	mod := pkg
	for _, m := range []string{"services/gateway", "services/projector", "services/query", "migrations", "tenancy"} {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			mod = m
		}
	}
	build := exec.Command("go", "build", "-o", bin, "./"+strings.TrimPrefix(strings.TrimPrefix(pkg, mod), "/"))
	build.Dir = filepath.Join("..", mod)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s (the drift test needs the binary): %v\n%s", pkg, err, out)
	}
	bins[pkg] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// printedSettings builds ./<pkg> from the repository root and returns what
// `<binary> <args> -print-settings` prints when its environment is env (and
// nothing else from the test's environment). The flags are parsed before the
// list is printed, so a rendered value the flag cannot parse (an int rendered
// as 1.048576e+06, a duration without unit) fails here too.
func printedSettings(t *testing.T, pkg string, env []string, args ...string) []string {
	t.Helper()
	bin := binary(t, pkg)
	cmd := exec.Command(bin, append(args, "-print-settings")...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -print-settings with the rendered environment: %v\n%s", pkg, err, stderr.String())
	}
	return strings.Fields(string(out))
}

// renderedEnv returns the variables the pod spec gives its
// first container (ConfigMap keys loaded with envFrom plus env entries) with
// their values; a value from a Secret the chart does not render is "".
func renderedEnv(t *testing.T, pod corev1.PodSpec, configMaps map[string]map[string]string, secrets map[string]map[string][]byte) map[string]string {
	t.Helper()
	env := map[string]string{}
	c := pod.Containers[0]
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v is not a ConfigMap of the chart", ef)
		}
		data, ok := configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %s the chart does not render", ef.ConfigMapRef.Name)
		}
		for k, v := range data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = string(secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key])
		default:
			t.Fatalf("env %s comes from neither a value nor a Secret", e.Name)
		}
	}
	return env
}

func TestRenderedSettingsMatchWhatServicesRead(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, mustRender(t, tc.args...))
			configMaps := map[string]map[string]string{}
			secrets := map[string]map[string][]byte{}
			pods := map[string]corev1.PodSpec{}
			for _, o := range objs {
				switch o := o.(type) {
				case *corev1.ConfigMap:
					configMaps[o.Name] = o.Data
				case *corev1.Secret:
					secrets[o.Name] = o.Data
				case *appsv1.Deployment:
					pods[o.Labels["app.kubernetes.io/component"]] = o.Spec.Template.Spec
				case *batchv1.Job:
					pods[o.Labels["app.kubernetes.io/component"]] = o.Spec.Template.Spec
				}
			}
			check := func(t *testing.T, name, pkg string, args ...string) {
				pod, ok := pods[name]
				if !ok {
					t.Fatalf("no workload for %s", name)
				}
				env := renderedEnv(t, pod, configMaps, secrets)
				var rendered, environ []string
				for k, v := range env {
					if !strings.HasPrefix(k, "PULSESTREAM_") {
						continue // GOMEMLIMIT, extraEnv: not settings
					}
					rendered = append(rendered, k)
					if v != "" {
						environ = append(environ, k+"="+v)
					}
				}
				slices.Sort(rendered)
				read := slices.DeleteFunc(printedSettings(t, pkg, environ, args...), func(s string) bool {
					return slices.Contains(documentedExceptions[name], s)
				})
				compareSettings(t, name, read, rendered)
			}
			for _, svc := range []string{"gateway", "projector", "query"} {
				t.Run(svc, func(t *testing.T) { check(t, svc, "services/"+svc) })
			}
			t.Run("migrate", func(t *testing.T) {
				if _, err := os.Stat("../migrations/cmd/migrate"); err != nil {
					t.Skip("migrations/cmd/migrate does not exist yet")
				}
				check(t, "migrate", "migrations/cmd/migrate", "up")
			})
		})
	}
}

func compareSettings(t *testing.T, name string, read, rendered []string) {
	t.Helper()
	slices.Sort(read)
	if len(read) == 0 {
		t.Fatalf("%s -print-settings printed nothing", name)
	}
	var missing, extra []string
	for _, s := range read {
		if !slices.Contains(rendered, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range rendered {
		if !slices.Contains(read, s) {
			extra = append(extra, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s reads settings the chart does not render (add them to templates/_settings.tpl and values.yaml): %v", name, missing)
	}
	if len(extra) > 0 {
		t.Errorf("the chart renders settings %s does not read (remove them from templates/_settings.tpl): %v", name, extra)
	}
}

func TestTopicsAndMigrationsRunAsHooksBeforeTheServicesChange(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeAll(t, mustRender(t, tc.args...))
			jobs := map[string]*batchv1.Job{}
			hookSecrets := map[string]*corev1.Secret{}
			for _, o := range objs {
				switch o := o.(type) {
				case *batchv1.Job:
					jobs[o.Labels["app.kubernetes.io/component"]] = o
				case *corev1.Secret:
					if o.Annotations["helm.sh/hook"] != "" {
						hookSecrets[o.Name] = o
					}
				}
			}
			for _, name := range []string{"topics", "migrate"} {
				j, ok := jobs[name]
				if !ok {
					t.Fatalf("no %s Job", name)
				}
				if got := j.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
					t.Errorf("%s Job hook = %q, want pre-install,pre-upgrade", name, got)
				}
			}
			// The hook Jobs' secrets must exist before they run: a hook
			// Secret of lower weight, or the operator's existing Secret.
			for _, e := range slices.Concat(jobs["migrate"].Spec.Template.Spec.Containers[0].Env, jobs["topics"].Spec.Template.Spec.Containers[0].Env) {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name == "pulsestream-secrets" {
					continue // existingSecret
				}
				s, ok := hookSecrets[ref.Name]
				if !ok {
					t.Fatalf("a hook Job reads %s from Secret %s, which is not created before the hooks", e.Name, ref.Name)
				}
				sw, err1 := strconv.Atoi(s.Annotations["helm.sh/hook-weight"])
				jw, err2 := strconv.Atoi(jobs["migrate"].Annotations["helm.sh/hook-weight"])
				tw, err3 := strconv.Atoi(jobs["topics"].Annotations["helm.sh/hook-weight"])
				if err1 != nil || err2 != nil || err3 != nil || sw >= jw || sw >= tw {
					t.Errorf("hook Secret weight %q is not below the migrate Job's %q and the topics Job's %q", s.Annotations["helm.sh/hook-weight"],
						jobs["migrate"].Annotations["helm.sh/hook-weight"], jobs["topics"].Annotations["helm.sh/hook-weight"])
				}
				if _, ok := s.Data[ref.Key]; !ok {
					t.Errorf("hook Secret %s has no key %s", ref.Name, ref.Key)
				}
			}
		})
	}
}

func TestTopicConfigsReachTheTopicsJob(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "--set", "topics.events.cleanup\\.policy=compact\\,delete", "--set", "topics.events.retention\\.ms=2592000000",
		"--set", "config.kafka-partitions=24"))
	for _, o := range objs {
		j, ok := o.(*batchv1.Job)
		if !ok || j.Labels["app.kubernetes.io/component"] != "topics" {
			continue
		}
		env := map[string]string{}
		for _, e := range j.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		for _, want := range []string{"cleanup.policy=[compact,delete]", "retention.ms=2592000000", "max.compaction.lag.ms=604800000"} {
			if !strings.Contains(env["TOPIC_CONFIGS"], want) {
				t.Errorf("TOPIC_CONFIGS %q lacks %s", env["TOPIC_CONFIGS"], want)
			}
		}
		if env["PARTITIONS"] != "24" || env["TOPIC"] != "events.v1" || env["DLQ_TOPIC"] != "events.v1.dlq" ||
			env["QUARANTINE_TOPIC"] != "events.v1.quarantine" || env["QUARANTINE_TOPIC_CONFIGS"] != "cleanup.policy=delete,min.insync.replicas=2,retention.ms=259200000" {
			t.Errorf("topics Job env %v", env)
		}
		return
	}
	t.Fatal("no topics Job rendered")
}

func TestAutoscaledDeploymentsLeaveReplicasToTheHPA(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "-f", "testdata/all-toggles.yaml"))
	hpas := map[string]bool{}
	for _, o := range objs {
		if h, ok := o.(*autoscalingv2.HorizontalPodAutoscaler); ok {
			hpas[h.Spec.ScaleTargetRef.Name] = true
		}
	}
	for _, o := range objs {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		switch c := d.Labels["app.kubernetes.io/component"]; {
		case c == "projector" && hpas[d.Name]:
			t.Errorf("projector has an HPA: its useful replicas are bounded by the partition count")
		case c != "projector" && !hpas[d.Name]:
			t.Errorf("%s: autoscaling on but no HPA targets it", d.Name)
		case c != "projector" && d.Spec.Replicas != nil:
			t.Errorf("%s sets replicas while an HPA scales it: every helm upgrade would reset the HPA's choice", d.Name)
		}
	}
}

func TestAdminAPIIsNeitherBehindAnIngressNorOpenToEveryone(t *testing.T) {
	for _, args := range [][]string{{"-f", "testdata/all-toggles.yaml"}, {"--set", "networkPolicy.enabled=true", "--set", "query.ingress.enabled=true"}} {
		objs := decodeAll(t, mustRender(t, args...))
		var adminRules int
		for _, o := range objs {
			switch o := o.(type) {
			case *networkingv1.Ingress:
				for _, r := range o.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						if p.Backend.Service.Port.Name != "http" {
							t.Errorf("Ingress %s routes to port %q", o.Name, p.Backend.Service.Port.Name)
						}
					}
				}
			case *networkingv1.NetworkPolicy:
				for _, r := range o.Spec.Ingress {
					for _, p := range r.Ports {
						if p.Port.String() == "admin" {
							adminRules++
							if len(r.From) == 0 {
								t.Errorf("%v: NetworkPolicy %s opens the admin port to everyone", args, o.Name)
							}
						}
					}
				}
			}
		}
		if adminRules != 1 {
			t.Errorf("%v: %d NetworkPolicy rules for the admin port, want 1", args, adminRules)
		}
	}
}

// TestTLSFilesAreMountedWhereTheSettingsPoint renders every TLS option
// (testdata/all-toggles.yaml) and follows each <SERVER>_TLS_CA, _CERT and
// _KEY path of every workload (and the topics Job's TLS_* paths) to the
// volume mounted there and the Secret or ConfigMap key it comes from; each
// Kafka client (gateway, projector, topics Job) gets the SASL login.
func TestTLSFilesAreMountedWhereTheSettingsPoint(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "-f", "testdata/all-toggles.yaml"))
	configMaps := map[string]map[string]string{}
	secrets := map[string]map[string][]byte{}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o.Data
		case *corev1.Secret:
			secrets[o.Name] = o.Data
		}
	}
	// where each file must come from (testdata/all-toggles.yaml)
	want := map[string]string{
		"KAFKA_TLS_CA": "configMap kafka-ca/ca.crt", "KAFKA_TLS_CERT": "secret kafka-client/tls.crt", "KAFKA_TLS_KEY": "secret kafka-client/tls.key",
		"REDIS_TLS_CA": "secret redis-ca/ca.pem", "REDIS_TLS_CERT": "secret redis-client/tls.crt", "REDIS_TLS_KEY": "secret redis-client/tls.key",
		"POSTGRES_TLS_CA": "secret postgres-ca/ca.crt", "CLICKHOUSE_TLS_CA": "secret clickhouse-ca/ca.crt",
	}
	reads := map[string][]string{ // servers each workload connects to
		"gateway": {"KAFKA", "REDIS", "POSTGRES"}, "projector": {"KAFKA", "POSTGRES", "CLICKHOUSE"},
		"query": {"POSTGRES", "CLICKHOUSE", "REDIS"}, "migrate": {"POSTGRES", "CLICKHOUSE"},
	}
	n := 0
	for _, w := range workloads(objs) {
		component := w.name[strings.LastIndex(w.name, "-")+1:]
		env := renderedEnv(t, w.pod, configMaps, secrets)
		if component == "topics" { // its own variable names, for Kafka's tools
			for _, k := range []string{"TLS_CA", "TLS_CERT", "TLS_KEY"} {
				env["PULSESTREAM_KAFKA_"+k] = env[k]
			}
			env["PULSESTREAM_KAFKA_TLS"], env["PULSESTREAM_KAFKA_SASL_PASSWORD"] = env["TLS"], env["SASL_PASSWORD"]
			env["PULSESTREAM_KAFKA_SASL_MECHANISM"] = env["SASL_MECHANISM"]
			reads[component] = []string{"KAFKA"}
		}
		for _, server := range reads[component] {
			if env["PULSESTREAM_"+server+"_TLS"] != "true" {
				t.Errorf("%s: PULSESTREAM_%s_TLS = %q, want true", w.name, server, env["PULSESTREAM_"+server+"_TLS"])
			}
			for _, f := range []string{"_TLS_CA", "_TLS_CERT", "_TLS_KEY"} {
				key := server + f
				path := env["PULSESTREAM_"+key]
				if (path == "") != (want[key] == "") {
					t.Errorf("%s: PULSESTREAM_%s = %q, want a file from %q", w.name, key, path, want[key])
					continue
				}
				if path == "" {
					continue
				}
				if got := mountedFrom(w.pod, path); got != want[key] {
					t.Errorf("%s: PULSESTREAM_%s = %s, mounted from %q, want %q", w.name, key, path, got, want[key])
				}
				n++
			}
		}
		if slices.Contains(reads[component], "KAFKA") &&
			(env["PULSESTREAM_KAFKA_SASL_MECHANISM"] != "SCRAM-SHA-512" || env["PULSESTREAM_KAFKA_SASL_PASSWORD"] != "kafka-secret") {
			t.Errorf("%s: SASL mechanism %q, password %q", w.name, env["PULSESTREAM_KAFKA_SASL_MECHANISM"], env["PULSESTREAM_KAFKA_SASL_PASSWORD"])
		}
	}
	if n != 22 { // gateway 3+3+1, projector 3+1+1, query 1+1+3, migrate 1+1, topics 3
		t.Errorf("%d TLS files followed, want 22", n)
	}
}

// mountedFrom returns "secret NAME/KEY" or "configMap NAME/KEY": the source
// of the file at path in the pod's first container, or "" when nothing is
// mounted there.
func mountedFrom(pod corev1.PodSpec, path string) string {
	dir, file := filepath.Split(path)
	for _, m := range pod.Containers[0].VolumeMounts {
		if filepath.Clean(m.MountPath) != filepath.Clean(dir) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			var kind, name string
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				kind, name, items = "secret", v.Secret.SecretName, v.Secret.Items
			case v.ConfigMap != nil:
				kind, name, items = "configMap", v.ConfigMap.Name, v.ConfigMap.Items
			}
			for _, it := range items {
				if it.Path == file {
					return kind + " " + name + "/" + it.Key
				}
			}
		}
	}
	return ""
}
