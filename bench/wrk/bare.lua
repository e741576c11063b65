-- (a) The ceiling: GET /bench/bare, a constant JSON view through the same middleware.
package.path = (os.getenv("BENCH_WRK_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local req = nil
function init(args)
  req = wrk.format("GET", "/bench/bare")
end

function request() return req end
if common.rate > 0 then
  function delay() return common.delay() end
end
function response(status, headers, body) common.count(status) end
