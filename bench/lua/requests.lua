-- Replays random lines of a request file, one request per line: METHOD<TAB>PATH[<TAB>BODY[<TAB>K]].
-- A line ending in K is sent with a new Idempotency-Key every time (a placed order is one
-- operation: replaying the same key would return the first order, not place another).
-- Environment: BENCH_REQUESTS (the file), BENCH_TOKEN (bearer token), BENCH_TRACK_STATUS=1 to
-- count responses per status (costs wrk some CPU: it then hands every response to Lua),
-- BENCH_MAX_REQUESTS_PER_THREAD: a thread stops after sending that many (besides --duration).
-- done() prints one line, "BENCH_RESULT <json>", that bench/wrk.py parses.

local token = os.getenv("BENCH_TOKEN") or ""
local request_file = os.getenv("BENCH_REQUESTS")
local track_status = os.getenv("BENCH_TRACK_STATUS") == "1"
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS_PER_THREAD") or "") or math.huge
local sent = 0

local threads = {}
local prepared = {}
local keyed = {}  -- index in prepared -> {method, path, body}: formatted per request
local key_prefix = ""
local key_count = 0
local with_body = {}
statuses = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

function init(args)
   -- Each thread its own sequence; the ids are uniform over the file either way.
   math.randomseed(os.time() + 7919 * (thread_number or 1))
   local base = {["Accept"] = "application/json"}
   if token ~= "" then
      base["Authorization"] = "Bearer " .. token
   end
   with_body = {["Content-Type"] = "application/json"}
   for name, value in pairs(base) do
      with_body[name] = value
   end
   -- Unique across threads, runs (the warm-up, then the measured run) and servers' 24 h of keys.
   key_prefix = string.format("wrk-%d-%d-%d-", os.time(), thread_number or 1,
                              math.random(0, 2147483646))
   for line in io.lines(request_file) do
      local method, path, rest = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
      if method then
         local body, flag = rest:match("^([^\t]*)\t(%u)$")
         if not body then
            body, flag = rest, ""
         end
         if flag == "K" then
            prepared[#prepared + 1] = false
            keyed[#prepared] = {method, path, body}
         elseif body == "" then
            prepared[#prepared + 1] = wrk.format(method, path, base)
         else
            prepared[#prepared + 1] = wrk.format(method, path, with_body, body)
         end
      end
   end
   if #prepared == 0 then
      error("no requests in " .. tostring(request_file))
   end
end

function request()
   sent = sent + 1
   if sent >= max_requests then
      wrk.thread:stop()  -- this request still goes out; the thread's loop ends after it
   end
   local index = math.random(#prepared)
   local line = keyed[index]
   if line then
      key_count = key_count + 1
      with_body["Idempotency-Key"] = key_prefix .. key_count
      local built = wrk.format(line[1], line[2], with_body, line[3])
      with_body["Idempotency-Key"] = nil
      return built
   end
   return prepared[index]
end

if track_status then
   function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
   end
end

local function encode(value)
   local kind = type(value)
   if kind == "table" then
      local parts = {}
      for key, item in pairs(value) do
         parts[#parts + 1] = string.format("%q:%s", tostring(key), encode(item))
      end
      return "{" .. table.concat(parts, ",") .. "}"
   elseif kind == "number" then
      return string.format("%.17g", value)
   elseif kind == "boolean" then
      return tostring(value)
   end
   return string.format("%q", tostring(value))
end

function done(summary, latency, requests)
   local by_status = {}
   for _, thread in ipairs(threads) do
      local counted = thread:get("statuses")
      if counted then
         for status, count in pairs(counted) do
            local key = tostring(status)
            by_status[key] = (by_status[key] or 0) + count
         end
      end
   end
   local percentiles = {}
   for _, p in ipairs({50, 75, 90, 95, 99, 99.9}) do
      percentiles[tostring(p)] = latency:percentile(p)
   end
   io.write("BENCH_RESULT " .. encode({
      duration_us = summary.duration,
      requests = summary.requests,
      bytes = summary.bytes,
      errors = summary.errors,
      latency_us = {
         min = latency.min,
         max = latency.max,
         mean = latency.mean,
         stdev = latency.stdev,
         percentiles = percentiles,
      },
      statuses = by_status,
      tracked = track_status,
   }) .. "\n")
end
