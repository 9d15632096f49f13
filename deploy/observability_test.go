package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
)

// kpromNamespaces are the kprom namespaces the services pass to
// platform/kafka.NewClient; kprom appends its own metric names to them.
var kpromNamespaces = []string{"pulsestream_gateway", "pulsestream_projector_postgres", "pulsestream_projector_clickhouse", "pulsestream_projector_dlq"}

var kpromSuffixes = []string{"connects_total", "connect_errors_total", "disconnects_total", "write_bytes_total", "write_errors_total",
	"read_bytes_total", "read_errors_total", "produce_records_total", "produce_batches_total", "fetch_records_total"}

var metricName = regexp.MustCompile(`pulsestream_[a-z0-9_]+`)

// httpMetric is a metric of platform/httpapi.NewMetrics(reg, service), whose
// name the service part completes.
var httpMetric = regexp.MustCompile(`^pulsestream_([a-z0-9]+)_(http_requests_total|http_request_duration_seconds)$`)

// registeredInSource reports whether a metric name appears in the Go source
// of services/, platform/ or tenancy/ (where every metric is registered with
// promauto), or is a kprom metric of one of the services' Kafka clients.
func registeredInSource(t *testing.T, name string) bool {
	t.Helper()
	for _, ns := range kpromNamespaces {
		for _, s := range kpromSuffixes {
			if name == ns+"_"+s {
				return true
			}
		}
	}
	base := name
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		base = strings.TrimSuffix(base, suf)
	}
	if m := httpMetric.FindStringSubmatch(base); m != nil {
		cmd := exec.Command("grep", "-rqE", "--include=*.go", `httpapi\.NewMetrics\([^,]+, "`+m[1]+`"\)`, "services")
		cmd.Dir = ".."
		return cmd.Run() == nil
	}
	cmd := exec.Command("grep", "-rqF", "--include=*.go", `"`+base+`"`, "services", "platform", "tenancy")
	cmd.Dir = ".."
	return cmd.Run() == nil
}

func TestDashboardAndAlertsUseMetricsTheServicesRegister(t *testing.T) {
	objs := decodeAll(t, mustRender(t, "-f", "testdata/all-toggles.yaml"))
	var exprs []string
	var dashboards int
	for _, o := range objs {
		switch o := o.(type) {
		case *monitoringv1.PrometheusRule:
			for _, g := range o.Spec.Groups {
				for _, r := range g.Rules {
					exprs = append(exprs, r.Expr.String())
				}
			}
		case *corev1.ConfigMap:
			if o.Labels["grafana_dashboard"] != "1" {
				continue
			}
			dashboards++
			var d struct {
				Panels []struct {
					Title   string
					Targets []struct{ Expr string }
				}
			}
			if err := json.Unmarshal([]byte(o.Data["pulsestream.json"]), &d); err != nil {
				t.Fatalf("dashboard JSON: %v", err)
			}
			for _, p := range d.Panels {
				for _, tg := range p.Targets {
					exprs = append(exprs, tg.Expr)
				}
			}
		}
	}
	if dashboards != 1 || len(exprs) < 10 {
		t.Fatalf("%d dashboards and %d expressions rendered", dashboards, len(exprs))
	}
	for _, bogus := range []string{"pulsestream_gateway_no_such_metric_total", "pulsestream_nosuchservice_http_requests_total"} {
		if registeredInSource(t, bogus) {
			t.Fatalf("the source check accepts %s, which nobody registers", bogus)
		}
	}
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		if !registeredInSource(t, n) {
			t.Errorf("dashboard or alert uses %s, which no service registers", n)
		}
	}
}

func TestDashboardShipsTheIssueEightPanels(t *testing.T) {
	raw, err := os.ReadFile(chartDir + "/files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"Ingest rate by outcome", "Kafka produce latency", "Rate-limit decisions",
		"Consumer lag (records)", "Records sent to the DLQ", "Query latency"} {
		if !strings.Contains(string(raw), `"title": "`+title+`"`) {
			t.Errorf("dashboard has no panel %q", title)
		}
	}
}
