-- wrk script: POST /api/<user>/tasks with JSON task bodies, each request with its user's bearer token.
-- Users come from the file named by WRK_USERS: one "user_id token" pair per line. Each thread
-- starts at its own offset and walks the list round-robin (wrk's request() has no connection id).
-- done() prints one JSON line: requests, seconds, rate, errors, latency percentiles in ms.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  users = {}
  local path = os.getenv("WRK_USERS") or "users.txt"
  for line in io.lines(path) do
    local id, token = line:match("^(%S+)%s+(%S+)$")
    if id then
      table.insert(users, {path = "/api/" .. id .. "/tasks",
                           headers = {["Authorization"] = "Bearer " .. token,
                                      ["Content-Type"] = "application/json"}})
    end
  end
  n = (id or 0) * 7919
  sent = 0
end

function request()
  n = n + 1
  local u = users[(n % #users) + 1]
  local body = '{"title":"bench task ' .. n .. '","priority":"medium","tags":["bench"],' ..
               '"due_date":"2030-01-01T09:00:00Z"}'
  return wrk.format("POST", u.path, u.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rate":%.1f,"errors":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f}\n',
    summary.requests, seconds, summary.requests / seconds, e.connect + e.read + e.write + e.status + e.timeout,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
