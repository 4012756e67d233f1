-- POST /api/token/refresh/ spending a fresh refresh token per request: each wrk thread takes
-- its own share of the pool file (POOL, one token per line; THREADS threads). A pool too
-- small for the run would start over with tokens already spent, and within
-- `refresh_reuse_grace` (10 s) those are answered 200 by the grace path, not rotated: the
-- run would measure something else. So a thread that runs out says so, and `done` prints
-- "refresh pool spent" for scripts/bench to mark the row.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local threads = tonumber(os.getenv("THREADS"))
  tokens = {}
  local n = 0
  for line in io.lines(os.getenv("POOL")) do
    if n % threads == id then tokens[#tokens + 1] = line end
    n = n + 1
  end
  i = 0
  spent = false
end

function request()
  i = i + 1
  if i > #tokens then
    spent = true
    i = 1
  end
  return wrk.format("POST", "/api/token/refresh/", { ["Content-Type"] = "application/json" },
    '{"refresh":"' .. tokens[i] .. '"}')
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("spent") then
      print("refresh pool spent")
      return
    end
  end
end
