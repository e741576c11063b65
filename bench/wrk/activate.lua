-- (d) Activate + deactivate pairs on licenses with unlimited seats.
--
-- Each pair is a fresh instance identifier. A deactivation is only sent once its
-- activation has been answered 200 (the X-Request-ID we send comes back on the response
-- and says which one it was), so the two never race, whatever wrk's connection count.
package.path = (os.getenv("BENCH_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local licenses = {}
local n = 0
local pending = {} -- activated instances waiting for their deactivation (a FIFO)
local head, tail = 1, 0
local headers = { ["Content-Type"] = "application/json" }
extra = { activate_sent = 0, deactivate_sent = 0, activate_ok = 0, deactivate_ok = 0 }

function init(args)
  for _, line in ipairs(common.slice(common.load_lines(os.getenv("BENCH_KEYS_FILE")), tid)) do
    local key, product = line:match("^(%S+)%s+(%S+)")
    licenses[#licenses + 1] = { key = key, product = product }
  end
end

local function body_for(idx)
  local lic = licenses[(idx % #licenses) + 1]
  return string.format(
    '{"license_key":"%s","product_slug":"%s","instance_identifier":"bench-%s-%d-%d"}',
    lic.key, lic.product, common.run_id, tid, idx)
end

function request()
  if tail >= head then
    local idx = pending[head]
    pending[head] = nil
    head = head + 1
    headers["X-Request-ID"] = "d." .. idx
    extra.deactivate_sent = extra.deactivate_sent + 1
    return wrk.format("POST", "/api/v1/product/deactivate", headers, body_for(idx))
  end
  n = n + 1
  headers["X-Request-ID"] = "a." .. n
  extra.activate_sent = extra.activate_sent + 1
  return wrk.format("POST", "/api/v1/product/activate", headers, body_for(n))
end

function response(status, hdrs, body)
  common.count(status)
  local rid = hdrs["X-Request-ID"] or hdrs["x-request-id"] or ""
  local kind, idx = rid:match("^(%a)%.(%d+)$")
  if status == 200 and kind == "a" then
    extra.activate_ok = extra.activate_ok + 1
    tail = tail + 1
    pending[tail] = tonumber(idx)
  elseif status == 200 and kind == "d" then
    extra.deactivate_ok = extra.deactivate_ok + 1
  end
end

if common.rate > 0 then
  function delay() return common.delay() end
end
