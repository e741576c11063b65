-- (b), (b2) and (c): GET /api/v1/product/check/{key}, walking this thread's slice of the
-- key file in order; (b2) (BENCH_CHECK_SITE set) names the product of each "KEY product"
-- line and that site. For the cache-hit phase the file holds a few hot keys (already cached);
-- for the miss phase it holds many distinct keys, so a key comes back only after the
-- whole slice has been walked (and bench/run.py flushes the cache meanwhile).
package.path = (os.getenv("BENCH_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local reqs = {}
local i = 0
extra = { wraps = 0 }

function init(args)
  local site = os.getenv("BENCH_CHECK_SITE") or ""
  local keys = common.slice(common.load_lines(os.getenv("BENCH_KEYS_FILE")), tid)
  for n, line in ipairs(keys) do
    local key, product = line:match("^(%S+)%s*(%S*)")
    local path = "/api/v1/product/check/" .. key
    if site ~= "" then path = path .. "?product_slug=" .. product .. "&instance_identifier=" .. site end
    reqs[n] = wrk.format("GET", path)
  end
end

function request()
  i = i + 1
  if i > #reqs then
    i = 1
    extra.wraps = extra.wraps + 1
  end
  return reqs[i]
end

if common.rate > 0 then
  function delay() return common.delay() end
end
function response(status, headers, body) common.count(status) end
