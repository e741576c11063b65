-- Shared by the bench/wrk/*.lua scripts (loaded with require "common").
--
-- Parameters come from the environment, set by bench/run.py:
--   BENCH_KEYS_FILE   one key per line ("KEY" or "KEY product_slug")
--   BENCH_THREADS     wrk's -t (to split the key file into disjoint slices per thread)
--   BENCH_RATE        0 = closed loop (as fast as the server answers); otherwise the
--                     total requests per second to offer, paced per thread (see M.delay)
--   BENCH_RUN_ID      a string unique to this wrk invocation
--
-- done() prints one line "BENCH_JSON {...}" with requests, duration, latency
-- percentiles (microseconds), socket errors and a count of responses per HTTP status.

local ffi = require("ffi")
ffi.cdef [[
typedef struct bench_timespec { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]

local M = {}

M.threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
M.rate = tonumber(os.getenv("BENCH_RATE") or "0")
M.run_id = os.getenv("BENCH_RUN_ID") or "run"

local ts = ffi.new("bench_timespec")
function M.now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

function M.load_lines(path)
  local lines = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then lines[#lines + 1] = line end
  end
  f:close()
  return lines
end

-- The slice of a list that this wrk thread owns: threads never share a key.
function M.slice(list, tid)
  local per = math.floor(#list / M.threads_total)
  if per < 1 then return list end
  local out = {}
  for i = tid * per + 1, (tid + 1) * per do out[#out + 1] = list[i] end
  return out
end

-- Thread-wide pacing for an offered rate: request i of this thread is not sent before
-- t0 + i / rate_per_thread. wrk (unlike wrk2) starts the latency clock when it sends, so
-- a late request does not count its wait (coordinated omission): bench/results.md says so.
local next_slot = nil
function M.delay()
  if M.rate <= 0 then return 0 end
  local interval = 1000.0 * M.threads_total / M.rate
  local now = M.now_ms()
  if next_slot == nil then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval
  if wait < 0 then
    -- Far behind (server slower than the offered rate): don't burst to catch up.
    if wait < -1000 then next_slot = now + interval end
    return 0
  end
  return math.floor(wait)
end

-- Per-thread tally of HTTP statuses, read back by done() through thread:get().
statuses = {}
function M.count(status)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

-- Main state: give every thread its id, keep them for done().
local all_threads = {}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  all_threads[#all_threads + 1] = thread
end

local function json_table(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = string.format("%q:%s", tostring(k), tostring(v))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local merged = {}
  local extra = {}
  for _, t in ipairs(all_threads) do
    for k, v in pairs(t:get("statuses") or {}) do merged[k] = (merged[k] or 0) + v end
    for k, v in pairs(t:get("extra") or {}) do extra[k] = (extra[k] or 0) + v end
  end
  local pct = {}
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    pct[#pct + 1] = string.format("%q:%d", tostring(p), latency:percentile(p))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"latency_us":{"mean":%.1f,"max":%d,"stdev":%.1f,"percentiles":{%s}},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"statuses":%s,"extra":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency.mean, latency.max, latency.stdev, table.concat(pct, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    json_table(merged), json_table(extra)))
end

return M
