// Package deploy holds the PulseStream Helm chart (helm/pulsestream), the
// container image (docker/) and the tests that check them without a cluster:
// helm lint and template, strict decoding of every rendered manifest into the
// Kubernetes API types (k8s.io/client-go's scheme with apimachinery's strict
// serializer, prometheus-operator's types for ServiceMonitor and
// PrometheusRule), values.schema.json refusals, and the settings drift test
// that compares each service's -print-settings with the environment the chart
// gives it.
package deploy
