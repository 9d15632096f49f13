package bench

import (
	"context"
	"os"
	"path/filepath"
)

// The event-schema twins of the batch phases (issue 19): the same load into
// tenants whose every event type has a realistic JSON Schema in enforce
// mode, numbered after every other phase. Their data is gen.OrderData (an
// order with enums and a nested customer, of the same size as the twins'
// gen.Data, which the gateway passes through unread when no schema
// applies). Every generated event is valid, so the twins store as many
// events as the originals and the verifier checks them like any other.
const (
	phaseBatch100Schemas = phaseSingleSigned + 1 + iota
	phaseBatch1000Schemas
)

// benchSchema describes the generator's order data (gen.OrderData): 10 properties, a
// nested object, enums, formats and bounds, as a tenant would write it.
const benchSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
 "required":["seq","user","amount","country","currency","status","customer"],
 "properties":{
  "seq":{"type":"integer","minimum":0},
  "user":{"type":"string","pattern":"^u-[0-9]+$"},
  "amount":{"type":"integer","minimum":0,"maximum":1000000},
  "country":{"enum":["DE","FR","GB","US"]},
  "currency":{"enum":["EUR","USD","GBP"]},
  "status":{"enum":["new","paid","shipped"]},
  "customer":{"type":"object","required":["id","tier"],"additionalProperties":false,
   "properties":{"id":{"type":"string","minLength":1},"tier":{"enum":["gold","silver","bronze"]},"email":{"type":"string","format":"email"}}},
  "coupon":{"type":"string","maxLength":32},
  "gift":{"type":"boolean"},
  "pad":{"type":"string"}},
 "additionalProperties":false}`

// eventTypes are the generator's types (gen.types).
var eventTypes = []string{"order.created", "order.paid", "page.viewed", "cart.updated", "user.signed_in"}

func schemaPhase(idx int) bool { return idx == phaseBatch100Schemas || idx == phaseBatch1000Schemas }

// phaseTenants are the tenants a gateway phase sends to.
func (b *run) phaseTenants(idx int) []string {
	if schemaPhase(idx) {
		return b.schemaT
	}
	return b.tenants
}

// enforceSchemas registers benchSchema for every type of every schema
// tenant and turns enforce mode on, with pulsectl.
func (b *run) enforceSchemas(ctx context.Context) error {
	doc := filepath.Join(b.cfg.WorkDir, b.id+"-schema.json")
	if err := os.WriteFile(doc, []byte(benchSchema), 0o600); err != nil {
		return err
	}
	for _, t := range b.schemaT {
		for _, typ := range eventTypes {
			if err := b.command(ctx, "pulsectl", "schemas", "add", "--postgres-url", b.pgURL, t, typ, doc); err != nil {
				return err
			}
		}
		if err := b.command(ctx, "pulsectl", "schemas", "settings", "--postgres-url", b.pgURL, "--mode", "enforce", t); err != nil {
			return err
		}
	}
	return nil
}

// schemaTargets: enforcing a realistic schema costs at most 20 % of the
// batch throughput (issue 19).
func schemaTargets(ph map[string]Phase) []Target {
	var ts []Target
	if _, ran := ph["gateway-batch1000-schemas"]; !ran {
		return nil
	}
	for _, n := range []string{"batch100", "batch1000"} {
		with, without := ph["gateway-"+n+"-schemas"], ph["gateway-"+n]
		r := ratio(with.EventsPerSec, without.EventsPerSec)
		ts = append(ts, Target{n + " events/s with schemas enforced / without", ">= 0.80", r, r >= 0.80})
	}
	return ts
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
