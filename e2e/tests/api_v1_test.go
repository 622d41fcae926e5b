package tests

// metrics.k8s.io/v1 beside v1beta1, and pods selected by spec.nodeName, through
// the real aggregator.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// withV1 is what this server adds to upstream's discovery fixtures: v1 (the
// preferred version) beside v1beta1, with the same resources.
func withV1(t *testing.T, fixtureName string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(fixture(t, fixtureName), &doc); err != nil {
		t.Fatal(err)
	}
	v1Of := func(v any) any {
		data, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal([]byte(strings.ReplaceAll(string(data), "v1beta1", "v1")), &out)
		return out
	}
	group := func(g map[string]any) {
		v1beta1 := g["versions"].([]any)[0]
		g["versions"] = []any{v1Of(v1beta1), v1beta1}
		g["preferredVersion"] = v1Of(v1beta1)
	}
	switch fixtureName {
	case "discovery-apis.json":
		group(doc["groups"].([]any)[0].(map[string]any))
	case "discovery-apis-metrics.k8s.io.json":
		group(doc)
	case "discovery-apis-aggregated-v2.json":
		item := doc["items"].([]any)[0].(map[string]any)
		v1beta1 := item["versions"].([]any)[0]
		item["versions"] = []any{v1Of(v1beta1), v1beta1}
	default:
		t.Fatalf("withV1: no rule for %s", fixtureName)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestV1IsAvailableAndServesWhatV1beta1Serves(t *testing.T) {
	admin := adminIdentity(t)
	out := kubectl(t, "get", "apiservice", "v1.metrics.k8s.io", "-o", "jsonpath={.spec.version} {.spec.versionPriority} {.status.conditions[?(@.type==\"Available\")].status}")
	if out != "v1 200 True" {
		t.Errorf("APIService v1.metrics.k8s.io: %q, want version v1, priority 200, Available", out)
	}
	r := apiGet(t, "/apis/metrics.k8s.io/v1", admin)
	if r.status != http.StatusOK {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(string(r.body), `"groupVersion":"metrics.k8s.io/v1"`) {
		t.Errorf("v1 resource list: %s", r.body)
	}

	// Names and usage of both versions agree (one scrape cycle may pass between
	// the two lists, so compare names only and the apiVersion).
	type list struct {
		APIVersion string `json:"apiVersion"`
		Items      []struct {
			APIVersion string `json:"apiVersion"`
			Metadata   struct {
				Name, Namespace string
			} `json:"metadata"`
		} `json:"items"`
	}
	names := func(version, resource string) (string, []string) {
		r := apiGet(t, "/apis/metrics.k8s.io/"+version+"/"+resource, admin)
		if r.status != http.StatusOK {
			t.Fatalf("%s %s: %s", version, resource, r)
		}
		var l list
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, item := range l.Items {
			out = append(out, item.Metadata.Namespace+"/"+item.Metadata.Name)
		}
		return l.APIVersion, out
	}
	for _, resource := range []string{"nodes", "pods"} {
		v1APIVersion, v1Names := names("v1", resource)
		_, v1beta1Names := names("v1beta1", resource)
		if v1APIVersion != "metrics.k8s.io/v1" {
			t.Errorf("%s: apiVersion %q", resource, v1APIVersion)
		}
		if len(v1Names) == 0 || !reflect.DeepEqual(v1Names, v1beta1Names) {
			t.Errorf("%s: v1 %v, v1beta1 %v", resource, v1Names, v1beta1Names)
		}
	}

	// kubectl finds the v1 kinds through discovery (the preferred version).
	got := kubectl(t, "get", "nodes.v1.metrics.k8s.io", "-o", "jsonpath={.items[*].apiVersion}")
	for _, v := range strings.Fields(got) {
		if v != "metrics.k8s.io/v1" {
			t.Errorf("kubectl get nodes.v1.metrics.k8s.io: apiVersion %q", v)
		}
	}
	if got == "" {
		t.Errorf("kubectl get nodes.v1.metrics.k8s.io printed no items")
	}
	// kubectl explain takes the resource alone with --api-version (a dotted name would be read as a field path).
	explain := kubectl(t, "explain", "nodes", "--api-version=metrics.k8s.io/v1")
	if !strings.Contains(explain, "VERSION:    v1") && !strings.Contains(explain, "VERSION: v1") {
		t.Errorf("kubectl explain for v1:\n%s", explain)
	}
}

func TestPodsAreSelectedByTheNodeTheyAreBoundTo(t *testing.T) {
	admin := adminIdentity(t)
	// Which node the API server bound each Running pod to.
	out := kubectl(t, "get", "pods", "-A", "--field-selector=status.phase=Running", "-o",
		"jsonpath={range .items[*]}{.spec.nodeName} {.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}")
	nodeOf := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if node, pod, ok := strings.Cut(line, " "); ok {
			nodeOf[pod] = node
		}
	}
	podsIn := func(path string) ([]string, string) {
		r := apiGet(t, path, admin)
		if r.status != http.StatusOK {
			return nil, r.String()
		}
		var l struct {
			Items []struct {
				Metadata struct{ Name, Namespace string } `json:"metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal(r.body, &l); err != nil {
			return nil, err.Error()
		}
		var got []string
		for _, item := range l.Items {
			got = append(got, item.Metadata.Namespace+"/"+item.Metadata.Name)
		}
		sort.Strings(got)
		return got, ""
	}
	nodes := map[string]bool{}
	for _, node := range nodeOf {
		nodes[node] = true
	}
	if len(nodes) < 2 {
		t.Fatalf("the scenario should spread Running pods over several nodes: %v", nodeOf)
	}
	for node := range nodes {
		for _, version := range []string{"v1", "v1beta1"} {
			base := "/apis/metrics.k8s.io/" + version + "/pods"
			// The node's list is the all-pods list cut to the pods bound to the node
			// (both read in one try; a scrape cycle between them is retried).
			eventually(t, 2*defaultResolution, "pods of "+node+" via "+version, func() (bool, string) {
				all, problem := podsIn(base)
				if problem != "" {
					return false, problem
				}
				onNode, problem := podsIn(base + "?fieldSelector=" + url.QueryEscape("spec.nodeName="+node))
				if problem != "" {
					return false, problem
				}
				var want []string
				for _, pod := range all {
					if nodeOf[pod] == node {
						want = append(want, pod)
					}
				}
				return len(want) > 0 && reflect.DeepEqual(onNode, want), strings.Join(onNode, ",") + " want " + strings.Join(want, ",")
			})
		}
	}
	// Combined with a namespace and a label selector, through kubectl.
	for node := range nodes {
		out := kubectl(t, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?fieldSelector="+
			url.QueryEscape("spec.nodeName="+node+",metadata.namespace=default"))
		if !strings.Contains(out, `"kind":"PodMetricsList"`) {
			t.Errorf("namespaced spec.nodeName list: %s", out)
		}
		break
	}
	// Nodes have no spec.nodeName: 400, as for any unknown field.
	r := apiGet(t, "/apis/metrics.k8s.io/v1/nodes?fieldSelector=spec.nodeName%3Dx", admin)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `\"spec.nodeName\" is not a known field selector`) {
		t.Errorf("nodes by spec.nodeName: %s", r)
	}
}
