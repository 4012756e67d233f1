-- POST /api/token/refresh/ spending a fresh refresh token per request: each wrk thread takes
-- its own share of the pool file (POOL, one token per line; THREADS threads).
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
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
end

function request()
  i = i + 1
  if i > #tokens then
    -- The pool is spent: a reused token is refused and shows up as a non-2xx answer.
    i = 1
  end
  return wrk.format("POST", "/api/token/refresh/", { ["Content-Type"] = "application/json" },
    '{"refresh":"' .. tokens[i] .. '"}')
end
