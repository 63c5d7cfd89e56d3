-- wrk script: POSTs one inference request, paced to a target rate, and prints a machine-readable result line.
-- Environment: KEY (bearer token), BODY_FILE (JSON body), RATE (requests/s over all connections, 0 = unpaced),
-- CONNS (connections, to compute the pacing delay).
local key = os.getenv("KEY") or "none"
local body_file = assert(os.getenv("BODY_FILE"), "BODY_FILE is required")
local rate = tonumber(os.getenv("RATE") or "0")
local conns = tonumber(os.getenv("CONNS") or "1")

local f = assert(io.open(body_file, "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

-- Each connection waits this long between requests, so the total rate is about RATE.
function delay()
  if rate <= 0 then return 0 end
  return math.floor(conns * 1000 / rate)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT requests=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f mean_ms=%.3f rps=%.1f errors=%d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, summary.requests / (summary.duration / 1e6), errors))
end
