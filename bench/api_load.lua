-- wrk script of bench/api_load.py:  wrk -t T ... -s bench/api_load.lua URL -- PLAN PHASE T RUN
--
-- PLAN is a Lua file written by api_load.py: {lag = K, sku = "...", lanes = {{org, key, users}}}.
-- Lanes are dealt out to wrk's threads; each thread sends its lanes' requests in turn.
-- PHASE license_mix: a lane assigns its people one by one and, once K of them hold a license,
-- alternates with taking back the one it assigned K of its own steps earlier (long answered by
-- then: the thread has sent K * lanes requests over few connections in between), so half the
-- requests assign and half unassign, and none is refused.
-- PHASE idempotent_mix: license_mix with an Idempotency-Key on every request.
-- PHASE authenticated_get: GET /v1/organizations/{id} with the lane's key. PHASE health: /health.
-- done() prints one line, "API_LOAD_RESULT {json}", for api_load.py.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

statuses = {} -- per thread: how many answers of each status other than 2xx

function response(status, headers, body)
  if status >= 300 then
    statuses[status] = (statuses[status] or 0) + 1
    if os.getenv("API_LOAD_DEBUG") then
      io.stderr:write(status .. " " .. body .. "\n")
    end
  end
end

local lanes = {}
local cursor = 0
local phase = "license_mix"
local lag = 16
local sku = ""
local run = "" -- a nonce per wrk run: its Idempotency-Keys are its own

function init(args)
  local plan = dofile(args[1])
  phase = args[2] or phase
  lag = plan.lag
  sku = plan.sku
  local threads = tonumber(args[3] or "1")
  run = args[4] or ""
  for i, lane in ipairs(plan.lanes) do
    if (i - 1) % threads == thread_index then
      table.insert(lanes, {
        org = lane.org,
        users = lane.users,
        headers = {
          ["Authorization"] = "Bearer " .. lane.key,
          ["Content-Type"] = "application/json",
        },
        assigned = 0, -- people assigned so far (index of the next to assign)
        taken_back = 0, -- people taken back so far
        unassign_next = false,
      })
    end
  end
end

local sent = 0

-- PHASE idempotent_mix: the same requests, each with an Idempotency-Key of its own, as a careful
-- client sends them (every one is a first request: its answer is stored for replays).
local function with_key(headers)
  sent = sent + 1
  local copy = {}
  for name, value in pairs(headers) do
    copy[name] = value
  end
  copy["Idempotency-Key"] = "api-load-" .. run .. "-" .. thread_index .. "-" .. sent
  return copy
end

local function mix(lane)
  local n = #lane.users
  local headers = lane.headers
  if phase == "idempotent_mix" then
    headers = with_key(headers)
  end
  local path = "/v1/organizations/" .. lane.org .. "/licenses/" .. sku .. "/"
  if lane.unassign_next and lane.assigned - lane.taken_back >= lag then
    local user = lane.users[(lane.taken_back % n) + 1]
    lane.taken_back = lane.taken_back + 1
    lane.unassign_next = false
    return wrk.format("POST", path .. "unassign", headers, '{"user_ids": [' .. user .. "]}")
  end
  local user = lane.users[(lane.assigned % n) + 1]
  lane.assigned = lane.assigned + 1
  lane.unassign_next = true
  return wrk.format("POST", path .. "assign", headers, '{"user_ids": [' .. user .. "]}")
end

-- wrk calls request() once on thread 0 before the run, to check what it returns, and never sends
-- that request: it must not take a lane's step.
local checking = nil

function request()
  if checking == nil then
    checking = thread_index == 0
  end
  if checking then
    checking = false
    return wrk.format("GET", "/health")
  end
  if phase == "health" then
    return wrk.format("GET", "/health")
  end
  cursor = cursor % #lanes + 1
  local lane = lanes[cursor]
  if phase == "authenticated_get" then
    return wrk.format("GET", "/v1/organizations/" .. lane.org, lane.headers)
  end
  return mix(lane)
end

function done(summary, latency, requests)
  local e = summary.errors
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  io.write(string.format(
    'API_LOAD_RESULT {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, '
      .. '"max_ms": %.2f, "errors": %d, "error_kinds": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")
  ))
end
