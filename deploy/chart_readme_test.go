package deploy

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// documentedKeys are the value paths the chart README's table must name:
// every top-level key, the keys one level below the blocks listed here
// (two for topics.job), where gateway/projector/query keys may be named as
// <component>.key. Settings maps (config, secrets, listener, ...) are named
// as a whole.
func documentedKeys(values map[string]any) []string {
	nested := map[string]bool{"global": true, "image": true, "serviceAccount": true, "shutdown": true, "gateway": true, "projector": true,
		"query": true, "migrate": true, "topics": true, "serviceMonitor": true, "prometheusRule": true, "dashboard": true, "networkPolicy": true}
	var keys []string
	for k, v := range values {
		m, ok := v.(map[string]any)
		if !ok || !nested[k] {
			keys = append(keys, k)
			continue
		}
		for k2, v2 := range m {
			if job, ok := v2.(map[string]any); ok && k == "topics" && k2 == "job" {
				for k3 := range job {
					keys = append(keys, "topics.job."+k3)
				}
				continue
			}
			keys = append(keys, k+"."+k2)
		}
	}
	return keys
}

func TestChartREADMENamesEveryValue(t *testing.T) {
	raw, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := documentedKeys(values)
	if len(keys) < 60 {
		t.Fatalf("only %d keys found in values.yaml", len(keys))
	}
	for _, k := range keys {
		named := strings.Contains(string(readme), "`"+k+"`")
		for _, c := range []string{"gateway.", "projector.", "query."} {
			if rest, ok := strings.CutPrefix(k, c); ok {
				named = named || strings.Contains(string(readme), "`<component>."+rest+"`")
			}
		}
		if !named {
			t.Errorf("values key %s is not in the chart README's table", k)
		}
	}
}
