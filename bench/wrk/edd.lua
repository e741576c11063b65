-- (e) and (f): POST /edd/{brand}/ as WordPress plugins send it (a form), walking this
-- thread's slice of the hot keys ("KEY product_slug" lines; item_name names the key's own
-- product). BENCH_EDD_ACTION is check_license or get_version; the site holds no seat, so
-- both are the check's cached read plus the brand's catalogue, and no package is signed.
-- BENCH_EDD_PATH, when set, posts the same forms there instead (the bare form view, a2).
package.path = (os.getenv("BENCH_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local reqs = {}
local i = 0
extra = { wraps = 0 }

function init(args)
  local action = os.getenv("BENCH_EDD_ACTION") or "check_license"
  local path = os.getenv("BENCH_EDD_PATH") or ""
  if path == "" then path = "/edd/" .. (os.getenv("BENCH_EDD_BRAND") or "bench") .. "/" end
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  local lines = common.slice(common.load_lines(os.getenv("BENCH_KEYS_FILE")), tid)
  for n, line in ipairs(lines) do
    local key, product = line:match("^(%S+)%s+(%S+)")
    local body = "edd_action=" .. action .. "&license=" .. key .. "&item_name=" .. product
      .. "&url=https%3A%2F%2Fbench-site.example.com&slug=" .. product .. "&version=0.1"
    reqs[n] = wrk.format("POST", path, headers, body)
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
