-- ~320-byte CloudEvents with unique ids: BATCH=1 sends one bare event per request,
-- BATCH=N an array of N (default 100)
local counter = 0

local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = tonumber(tid) or 0 end
local key = os.getenv("KEY")
local run = os.getenv("RUN") or "r"
local n = tonumber(os.getenv("BATCH") or "100")
-- events are dated now (UTC), so a tenant's retention never refuses them as too old
local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
local hdr = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
function request()
  local parts = {}
  for i = 1, n do
    counter = counter + 1
    parts[i] = '{"specversion":"1.0","id":"' .. run .. "-" .. tid .. "-" .. counter .. '","type":"com.example.order.created","source":"/shop/eu","subject":"order-' .. counter .. '","time":"' .. now .. '","datacontenttype":"application/json","data":{"order_id":' .. counter .. ',"customer":"cust-17","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}}'
  end
  if n == 1 then return wrk.format("POST", "/v1/events", hdr, parts[1]) end
  return wrk.format("POST", "/v1/events", hdr, "[" .. table.concat(parts, ",") .. "]")
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f eps=%.0f p50=%.1fms p99=%.1fms errors=%d non2xx=%d\n", summary.requests / (summary.duration / 1e6), n * summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
