package deploy

import (
	"os"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// rendered indexes what one helm template run gives: the Deployments by
// component, and the ConfigMaps and Secrets by name (for renderedEnv).
type rendered struct {
	objs        []runtime.Object
	deployments map[string]*appsv1.Deployment
	configMaps  map[string]map[string]string
	secrets     map[string]map[string][]byte
}

func renderObjects(t *testing.T, args ...string) rendered {
	t.Helper()
	r := rendered{objs: decodeAll(t, mustRender(t, args...)), deployments: map[string]*appsv1.Deployment{},
		configMaps: map[string]map[string]string{}, secrets: map[string]map[string][]byte{}}
	for _, o := range r.objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			r.deployments[o.Labels["app.kubernetes.io/component"]] = o
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o.Data
		case *corev1.Secret:
			r.secrets[o.Name] = o.Data
		}
	}
	return r
}

// env is what the component's container gets from its ConfigMap and Secret.
func (r rendered) env(t *testing.T, component string) map[string]string {
	t.Helper()
	d, ok := r.deployments[component]
	if !ok {
		t.Fatalf("no %s Deployment rendered", component)
	}
	return renderedEnv(t, d.Spec.Template.Spec, r.configMaps, r.secrets)
}

func TestEachComponentGetsItsOwnSecretValue(t *testing.T) {
	const gw, q, shared = "postgres://gateway@pg/ps", "postgres://query@pg/ps", "postgres://shared@pg/ps"
	r := renderObjects(t, "--set", "gateway.secrets.postgres-url="+gw, "--set", "query.secrets.postgres-url="+q,
		"--set", "secrets.postgres-url="+shared, "--set", "query.secrets.redis-password=query-only")
	for component, want := range map[string]string{"gateway": gw, "query": q, "projector": shared} {
		if got := r.env(t, component)["PULSESTREAM_POSTGRES_URL"]; got != want {
			t.Errorf("%s reads PULSESTREAM_POSTGRES_URL=%q, want %q", component, got, want)
		}
	}
	if got := r.env(t, "gateway")["PULSESTREAM_REDIS_PASSWORD"]; got != "" {
		t.Errorf("gateway reads query's redis password %q", got)
	}
	if got := r.env(t, "query")["PULSESTREAM_REDIS_PASSWORD"]; got != "query-only" {
		t.Errorf("query reads PULSESTREAM_REDIS_PASSWORD=%q, want query-only", got)
	}

	// A pod restarts (its checksum changes) exactly when its own settings change.
	other := renderObjects(t, "--set", "gateway.secrets.postgres-url="+gw, "--set", "query.secrets.postgres-url=postgres://changed@pg/ps",
		"--set", "secrets.postgres-url="+shared, "--set", "query.secrets.redis-password=query-only")
	for component, changes := range map[string]bool{"gateway": false, "projector": false, "query": true} {
		before := r.deployments[component].Spec.Template.Annotations["checksum/config"]
		after := other.deployments[component].Spec.Template.Annotations["checksum/config"]
		if (before != after) != changes {
			t.Errorf("%s: checksum changed = %v after only query's postgres-url changed, want %v", component, before != after, changes)
		}
	}
}

func TestComponentSecretsWithExistingSecretAreRefused(t *testing.T) {
	_, err := render(t, "--set", "existingSecret=ps-secrets", "--set", "gateway.secrets.postgres-url=postgres://gw@pg/ps")
	if err == nil || !strings.Contains(err.Error(), "gateway.secrets.postgres-url is ignored with existingSecret") {
		t.Fatalf("err = %v, want a refusal naming gateway.secrets.postgres-url", err)
	}
}

func TestTemplateWithoutACursorKeyIsRefusedNamingTheSetting(t *testing.T) {
	_, err := renderBare(t)
	if err == nil || !strings.Contains(err.Error(), "query.secrets.cursor-key: rendering without a cluster") {
		t.Fatalf("helm template without a cursor key: err = %v, want a refusal naming query.secrets.cursor-key", err)
	}
	if _, err := renderBare(t, "--set", "existingSecret=ps-secrets"); err != nil {
		t.Fatalf("with existingSecret no cursor key is needed: %v", err)
	}
}

// probeSchemes returns each Deployment's liveness, readiness and startup
// probe schemes (one value when they agree) and each ServiceMonitor's scheme.
func probeSchemes(t *testing.T, r rendered) (probes, monitors map[string]string) {
	t.Helper()
	probes, monitors = map[string]string{}, map[string]string{}
	for c, d := range r.deployments {
		ct := d.Spec.Template.Spec.Containers[0]
		seen := map[corev1.URIScheme]bool{}
		for _, p := range []*corev1.Probe{ct.LivenessProbe, ct.ReadinessProbe, ct.StartupProbe} {
			seen[p.HTTPGet.Scheme] = true
		}
		if len(seen) != 1 {
			t.Errorf("%s: probes disagree on the scheme: %v", c, seen)
		}
		probes[c] = string(ct.ReadinessProbe.HTTPGet.Scheme)
	}
	for _, o := range r.objs {
		if sm, ok := o.(*monitoringv1.ServiceMonitor); ok {
			ep := sm.Spec.Endpoints[0]
			scheme := "http"
			if ep.Scheme != nil {
				scheme = strings.ToLower(ep.Scheme.String())
			}
			if scheme == "https" && ep.TLSConfig == nil {
				t.Errorf("%s scrapes https without a tlsConfig", sm.Name)
			}
			monitors[sm.Labels["app.kubernetes.io/component"]] = scheme
		}
	}
	return probes, monitors
}

func TestListenerTLSTurnsProbesAndScrapesToHTTPS(t *testing.T) {
	tls := []string{"--set", "serviceMonitor.enabled=true", "--set", "listener.tls-cert=/etc/tls/tls.crt", "--set", "listener.tls-key=/etc/tls/tls.key"}
	for _, tc := range []struct {
		name  string
		args  []string
		https map[string]bool
	}{
		{"no TLS", []string{"--set", "serviceMonitor.enabled=true"}, map[string]bool{}},
		{"every listener", tls, map[string]bool{"gateway": true, "projector": true, "query": true}},
		{"gateway only", []string{"--set", "serviceMonitor.enabled=true", "--set", "gateway.config.gateway-tls-cert=/etc/tls/tls.crt",
			"--set", "gateway.config.gateway-tls-key=/etc/tls/tls.key"}, map[string]bool{"gateway": true}},
		// query's admin listener does not serve the probes
		{"query admin only", []string{"--set", "serviceMonitor.enabled=true", "--set", "query.config.admin-tls-cert=/etc/tls/tls.crt",
			"--set", "query.config.admin-tls-key=/etc/tls/tls.key"}, map[string]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := renderObjects(t, tc.args...)
			probes, monitors := probeSchemes(t, r)
			for _, c := range []string{"gateway", "projector", "query"} {
				want := map[bool]string{true: "HTTPS", false: "HTTP"}[tc.https[c]]
				if probes[c] != want {
					t.Errorf("%s probes use %s, want %s", c, probes[c], want)
				}
				if monitors[c] != strings.ToLower(want) {
					t.Errorf("%s ServiceMonitor scrapes %s, want %s", c, monitors[c], strings.ToLower(want))
				}
			}
		})
	}
}

func TestHookJobsArePlacedAndPulledLikeTheServices(t *testing.T) {
	r := renderObjects(t, "-f", "testdata/production.yaml")
	jobs := 0
	for _, o := range r.objs {
		j, ok := o.(*batchv1.Job)
		if !ok {
			continue
		}
		jobs++
		pod := j.Spec.Template.Spec
		if pod.ServiceAccountName != "ps-pulsestream-hooks" {
			t.Errorf("%s runs as ServiceAccount %q, want the hooks' own ps-pulsestream-hooks", j.Name, pod.ServiceAccountName)
		}
		if pod.NodeSelector["pool"] != "jobs" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" {
			t.Errorf("%s: nodeSelector %v, tolerations %v; want the values' pool and toleration", j.Name, pod.NodeSelector, pod.Tolerations)
		}
		if j.Spec.Template.Annotations["sidecar.istio.io/inject"] != "false" {
			t.Errorf("%s: pod annotations %v lack sidecar.istio.io/inject", j.Name, j.Spec.Template.Annotations)
		}
		if len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "registry-credentials" {
			t.Errorf("%s: imagePullSecrets %v", j.Name, pod.ImagePullSecrets)
		}
		if img := pod.Containers[0].Image; !strings.HasPrefix(img, "registry.internal.example.com/") {
			t.Errorf("%s pulls %s, not from global.imageRegistry", j.Name, img)
		}
	}
	if jobs != 2 {
		t.Fatalf("%d hook Jobs rendered, want 2", jobs)
	}
	d := r.deployments["gateway"].Spec.Template
	if img := d.Spec.Containers[0].Image; img != "registry.internal.example.com/pulsestream/pulsestream@sha256:cc7967555d037ccd5fa32d53d16a75f7c7b5819ac1b36b45683c2d93acc7b4c7" {
		t.Errorf("gateway image %s, want the mirror and the digest", img)
	}
	env := r.env(t, "gateway")
	if env["GOMEMLIMIT"] != "820MiB" || env["GODEBUG"] != "http2client=0" {
		t.Errorf("gateway GOMEMLIMIT %q, GODEBUG %q; want goMemLimit and extraEnv", env["GOMEMLIMIT"], env["GODEBUG"])
	}
	if d.Labels["team"] != "data-platform" {
		t.Errorf("gateway pod labels %v lack podLabels", d.Labels)
	}
}

func TestDefaultsSpreadReplicasAndKeepOpsPathsOffTheIngress(t *testing.T) {
	r := renderObjects(t, "--set", "gateway.ingress.enabled=true", "--set", "query.ingress.enabled=true")
	for c, d := range r.deployments {
		var keys []string
		for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
			keys = append(keys, tsc.TopologyKey)
			if tsc.WhenUnsatisfiable != corev1.ScheduleAnyway || tsc.LabelSelector.MatchLabels["app.kubernetes.io/component"] != c {
				t.Errorf("%s: spread constraint %+v", c, tsc)
			}
		}
		if strings.Join(keys, ",") != "topology.kubernetes.io/zone,kubernetes.io/hostname" {
			t.Errorf("%s spreads over %v, want zones then nodes", c, keys)
		}
	}
	ingresses := 0
	for _, o := range r.objs {
		if ing, ok := o.(*networkingv1.Ingress); ok {
			ingresses++
			for _, p := range ing.Spec.Rules[0].HTTP.Paths {
				if p.Path != "/v1" {
					t.Errorf("%s routes %s by default: /metrics, /livez and /readyz would be public", ing.Name, p.Path)
				}
			}
		}
	}
	if ingresses != 2 {
		t.Fatalf("%d Ingresses, want 2", ingresses)
	}
	if off := renderObjects(t, "--set", "defaultTopologySpread=false"); len(off.deployments["gateway"].Spec.Template.Spec.TopologySpreadConstraints) != 0 {
		t.Error("defaultTopologySpread=false still spreads")
	}
}

func TestAlertsNoticeAComponentThatIsGoneAndLinkARunbook(t *testing.T) {
	r := renderObjects(t, "--set", "prometheusRule.enabled=true")
	alerts := map[string]monitoringv1.Rule{}
	for _, o := range r.objs {
		if pr, ok := o.(*monitoringv1.PrometheusRule); ok {
			for _, g := range pr.Spec.Groups {
				for _, rule := range g.Rules {
					alerts[rule.Alert] = rule
				}
			}
		}
	}
	for name, want := range map[string]string{
		"PulseStreamTargetDown":          `job=~"ps-pulsestream-(gateway|projector|query)"`,
		"PulseStreamProjectorLagAbsent":  "absent(pulsestream_projector_consumer_lag",
		"PulseStreamReplicasUnavailable": "kube_deployment_status_replicas_available",
	} {
		if a, ok := alerts[name]; !ok || !strings.Contains(a.Expr.String(), want) {
			t.Errorf("alert %s: %q, want an expression with %s", name, a.Expr.String(), want)
		}
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok { // GitHub's anchor of a heading
			anchors[strings.ReplaceAll(strings.ToLower(h), " ", "-")] = true
		}
	}
	const base = "https://github.com/pulsestream/pulsestream/blob/main/docs/operations.md#"
	for name, a := range alerts {
		anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], base)
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q is not a section of docs/operations.md", name, a.Annotations["runbook_url"])
		}
	}
}
