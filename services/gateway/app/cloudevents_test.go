package app

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/pulsestream/pulsestream/schemas"
)

// TestCloudEventsSDKSendsInBinaryAndStructuredMode uses the official Go SDK's
// HTTP sender unchanged (only the API key header added) in both modes.
func TestCloudEventsSDKSendsInBinaryAndStructuredMode(t *testing.T) {
	g, _ := unitGateway(t, nil)
	client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(g.url+"/v1/events"), cehttp.WithHeader("Authorization", "Bearer "+keyA))
	if err != nil {
		t.Fatal(err)
	}
	send := func(ctx context.Context, id string) {
		t.Helper()
		ev := cloudevents.NewEvent()
		ev.SetID(id)
		ev.SetType("com.example.sdk")
		ev.SetSource("/sdk")
		ev.SetSubject("subject with spaces")
		ev.SetTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
		ev.SetExtension("tenantref", "abc")
		if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{"hello": id}); err != nil {
			t.Fatal(err)
		}
		res := client.Send(ctx, ev)
		if !cloudevents.IsACK(res) {
			t.Fatalf("%s: not acknowledged: %v", id, res)
		}
		var hr *cehttp.Result
		if !cloudevents.ResultAs(res, &hr) || hr.StatusCode != http.StatusOK {
			t.Fatalf("%s: result %v", id, res)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // each send is a produce to the shared broker
	defer cancel()
	send(ctx, "sdk-binary")
	send(cloudevents.WithEncodingStructured(ctx), "sdk-structured")

	recs := readRecords(t, g.brokers, g.topic, 2)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		var ev schemas.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		var data map[string]string
		if err := json.Unmarshal(ev.Data, &data); err != nil || data["hello"] != ev.ID {
			t.Errorf("%s: data %s", ev.ID, ev.Data)
		}
		if ev.Type != "com.example.sdk" || ev.Source != "/sdk" || ev.Subject != "subject with spaces" || ev.Extensions["tenantref"] != "abc" ||
			!ev.Time.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: %+v", ev.ID, ev)
		}
	}
}
